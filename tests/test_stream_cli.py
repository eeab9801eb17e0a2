"""`newsbeam stream` options: flags, finding Prism (never downloading it), the stop file."""
from __future__ import annotations

import os
import stat

import pytest
from apache_beam.options.pipeline_options import PrismRunnerOptions, StandardOptions

from pipelines import cli, stream
from pipelines.options import StreamOptions


@pytest.fixture
def no_prism(tmp_path, monkeypatch):
    """An environment where no Prism binary can be found."""
    monkeypatch.setenv("NEWSBEAM_PRISM_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("NEWSBEAM_PRISM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    return tmp_path


@pytest.fixture
def fake_prism(no_prism):
    """A cache laid out like scripts/get_prism.sh's, holding an executable file."""
    from apache_beam.version import __version__

    folder = no_prism / "empty-cache" / f"v{__version__}"
    folder.mkdir(parents=True)
    binary = folder / "prism"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return str(binary)


def test_parser_has_the_streaming_flags():
    args = stream.build_arg_parser().parse_args(
        ["--feed", "http://x/f.xml", "--output", "o", "--poll-interval", "6", "--max-polls", "3",
         "--window", "60", "--state-horizon", "3600", "--allow-private-network"])
    assert (args.poll_interval, args.max_polls, args.window, args.state_horizon) == (6.0, 3, 60.0, 3600.0)
    assert args.allow_private_network is True
    defaults = stream.build_arg_parser().parse_args(["--feed", "u", "--output", "o"])
    assert (defaults.window, defaults.state_horizon, defaults.max_polls) == (600.0, 7 * 86400.0, None)


def test_without_prism_the_command_says_how_to_get_it(no_prism, capsys):
    with pytest.raises(stream.PrismNotFound) as info:
        stream.stream_options(["--output", "o"])
    assert "make prism" in str(info.value) and "scripts/get_prism.sh" in str(info.value)
    assert "go install github.com/apache/beam/sdks/v2/go/cmd/prism@v" in str(info.value)
    code = stream.main(["--feed", "http://127.0.0.1:9/f.xml", "--output", str(no_prism / "out")])
    assert code == 2
    assert "no Prism binary found" in capsys.readouterr().err
    assert not (no_prism / "out").exists()


def test_explicit_prism_runner_without_binary_is_refused_not_downloaded(no_prism):
    with pytest.raises(stream.PrismNotFound):
        stream.stream_options(["--runner", "PrismRunner", "--prism_location", str(no_prism / "nope")])


def test_prism_from_the_cache_is_the_default_runner(fake_prism):
    options = stream.stream_options(["--output", "o", "--poll-interval", "5"])
    standard = options.view_as(StandardOptions)
    assert standard.runner == "PrismRunner" and standard.streaming is True
    assert options.view_as(PrismRunnerOptions).prism_location == fake_prism
    assert options.view_as(StreamOptions).poll_interval == 5.0
    assert stream.find_prism() == fake_prism


def test_explicit_location_and_env_win_over_the_cache(fake_prism, tmp_path, monkeypatch):
    other = tmp_path / "other-prism"
    other.write_text("#!/bin/sh\n")
    other.chmod(0o755)
    assert stream.find_prism(str(other)) == str(other)
    monkeypatch.setenv("NEWSBEAM_PRISM", str(other))
    assert stream.find_prism() == str(other)
    not_executable = tmp_path / "plain"
    not_executable.write_text("")
    monkeypatch.delenv("NEWSBEAM_PRISM")
    assert stream.find_prism(str(not_executable)) == fake_prism


def test_other_runners_need_no_prism(no_prism):
    options = stream.stream_options(["--runner", "DataflowRunner", "--output", "gs://b/o"])
    assert options.view_as(StandardOptions).runner == "DataflowRunner"
    assert options.view_as(StandardOptions).streaming is True


@pytest.mark.parametrize("bad", [["--max-polls", "0"], ["--poll-interval", "0"], ["--window", "-1"]])
def test_bad_values_are_usage_errors(bad, fake_prism):
    with pytest.raises(SystemExit) as info:
        stream.run(["--feed", "http://127.0.0.1:9/f.xml", "--output", "o", *bad])
    assert info.value.code == 2


def test_stop_file_lives_in_the_dataset_state():
    assert stream.stop_file_path("/data/ds", "run1") == os.path.join("/data/ds", "_state", "stream", "run1.stop")


def test_cli_help_lists_the_streaming_flags(capsys):
    assert cli.main(["stream", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--poll-interval", "--max-polls", "--window", "--state-horizon", "--feeds-file"):
        assert flag in text


def test_the_job_state_stream_gets_no_five_minute_deadline(fake_prism):
    from apache_beam.options.pipeline_options import PortableOptions

    options = stream.stream_options(["--output", "o"])
    assert options.view_as(PortableOptions).job_server_timeout >= 365 * 86400
    given = stream.stream_options(["--output", "o", "--job_server_timeout", "120"])
    assert given.view_as(PortableOptions).job_server_timeout == 120
