"""The scoring of scripts/eval_extraction.py, on made-up outputs."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "eval_extraction.py"


@pytest.fixture(scope="module")
def ev():
    spec = importlib.util.spec_from_file_location("eval_extraction", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tokens_are_nfkc_casefolded_words(ev):
    assert ev.tokens("𝐄𝐍 RELATION, l’Équipe") == ["en", "relation", "l", "équipe"]


def test_reference_scoring_is_a_bag_of_tokens(ev):
    reference = "the cat sat on the mat"
    assert ev.score_reference("the cat sat on the mat", reference) == (6, 0, 0)
    assert ev.score_reference("Read more the cat sat", reference) == (3, 2, 3)
    assert ev.score_reference("", reference) == (0, 0, 6)


def test_snippet_scoring_counts_tokens_of_whole_snippets(ev):
    output = "The cat sat on the mat.\nShare on Facebook"
    with_ = ["cat sat on", "a dog barked"]
    without = ["Share on Facebook", "Cookie policy", "on the"]  # "on the" is found: counted
    assert ev.score_snippets(output, with_, without) == (3, 5, 3)
    assert ev.score_snippets(output, ["cat sa"], []) == (0, 0, 2)  # not a whole-word match


def test_prf(ev):
    assert ev.prf(0, 0, 0) == (0.0, 0.0, 0.0)
    p, r, f = ev.prf(3, 1, 2)
    assert (p, r) == (0.75, 0.6) and f == pytest.approx(2 * 0.75 * 0.6 / 1.35)
