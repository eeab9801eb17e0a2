# newsbeam: `make demo` runs the pipeline on the built-in example site,
# `make test` runs the test suite. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= out
PYTEST_ARGS ?=

.PHONY: install demo test test-fast eval eval-extraction eval-metadata eval-dedup bench bench-stages bench-dedup bench-stream bench-set-xpath prism flink schema-docs clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/newsbeam demo --output $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -ra -m "not slow and not prism and not flink" $(PYTEST_ARGS)

eval: eval-extraction eval-metadata eval-dedup

eval-extraction: $(STAMP)
	$(BIN)/python scripts/eval_extraction.py

eval-metadata: $(STAMP)
	$(BIN)/python scripts/eval_metadata.py

eval-dedup: $(STAMP)
	$(BIN)/python scripts/eval_dedup.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py $(BENCH_ARGS)

bench-stages: $(STAMP)
	$(BIN)/python benchmarks/bench_stages.py

bench-dedup: $(STAMP)
	$(BIN)/python benchmarks/bench_dedup.py

bench-set-xpath: $(STAMP)
	$(BIN)/python benchmarks/bench_set_xpath.py

bench-stream: $(STAMP)
	$(BIN)/python benchmarks/bench_stream_memory.py $(BENCH_ARGS)

prism:
	bash scripts/get_prism.sh

flink:
	bash scripts/get_flink_job_server.sh

schema-docs: $(STAMP)
	$(BIN)/python scripts/gen_schema_docs.py

clean:
	rm -rf $(OUT) build dist *.egg-info .pytest_cache
