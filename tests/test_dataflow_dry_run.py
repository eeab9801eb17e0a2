"""The Dataflow deployment, checked offline.

- The job graph: the Flex Template entry point (`deploy/dataflow/main.py`) builds
  the batch and the streaming pipelines for `--runner=DataflowRunner
  --dry_run=True`, which translates them to a Dataflow job and stops before
  submitting it. The runner needs `apache-beam[gcp]`, which the project does not
  depend on: the run happens in a virtualenv made from
  `deploy/dataflow/requirements.txt` (the image's pins), cached in
  ~/.cache/newsbeam/venvs/ by the hash of that file. It runs in a new network
  namespace when one can be made (nothing can leave the machine), with the
  Google metadata server pointed at loopback in any case.
- The deploy files agree with the project: the Beam version of the image and
  the pins, the template parameters and the flags, the Kubernetes manifests.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
REQUIREMENTS = DEPLOY / "dataflow" / "requirements.txt"
IN_CI = os.environ.get("CI", "").lower() == "true"
BUCKET = "gs://newsbeam-dry-run"
IMAGE = "europe-west1-docker.pkg.dev/demo-project/newsbeam/newsbeam:test"
STAGES = ("ReadFeeds", "FetchPages", "ExtractArticles", "ResolveMetadata", "CleanBoilerplate",
          "DetectLanguage", "Deduplicate", "WriteArticles", "WriteRejects")

# Runs in the Dataflow virtualenv: builds the pipeline through the template
# entry point and prints what the dry run produced.
DRIVER = r"""
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("newsbeam_template_main", "deploy/dataflow/main.py")
launcher = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launcher)
from apache_beam.options.pipeline_options import StandardOptions
result = launcher.submit(sys.argv[2:], sys.argv[1])
job = result.job
proto = job.proto_pipeline
envs = {}
for env_id, env in proto.components.environments.items():
    from apache_beam.portability.api import beam_runner_api_pb2 as pb
    payload = pb.DockerPayload.FromString(env.payload) if env.payload else None
    files = []
    for dep in env.dependencies:
        role = pb.ArtifactStagingToRolePayload.FromString(dep.role_payload)
        path = pb.ArtifactFilePayload.FromString(dep.type_payload).path
        files.append({"staged_name": role.staged_name, "path": path})
    envs[env_id] = {"urn": env.urn, "image": payload.container_image if payload else None,
                    "dependencies": files}
print("DRYRUN " + json.dumps({
    "state": str(result.state),
    "transforms": sorted(t.unique_name for t in proto.components.transforms.values()),
    "environments": envs,
    "streaming": job.options.view_as(StandardOptions).streaming,
    # The Dataflow API enum (an int in the v1b3 client): 1 batch, 2 streaming.
    "job_type": {1: "JOB_TYPE_BATCH", 2: "JOB_TYPE_STREAMING"}.get(int(job.proto.type)),
    "region": job.options.get_all_options()["region"],
}))
"""


def _unavailable(message: str):
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _pins(lines: list[str]) -> dict[str, str]:
    """{normalised name: version} of `name[extras]==version` lines."""
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(3)
    return pins


def _beam_pin() -> str:
    return _pins(_pyproject()["project"]["dependencies"])["apache-beam"]


@pytest.fixture(scope="session")
def dataflow_python() -> str:
    """A Python with deploy/dataflow/requirements.txt installed, cached by the file's hash."""
    key = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    root = Path(os.environ.get("NEWSBEAM_VENV_CACHE", Path.home() / ".cache" / "newsbeam" / "venvs"))
    venv = root / f"dataflow-{key}"
    python = venv / "bin" / "python"
    if python.is_file():
        os.utime(venv)  # marks it used, for _remove_stale_venvs
        return str(python)
    root.mkdir(parents=True, exist_ok=True)
    building = root / f".dataflow-{key}.{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(building)], check=True, timeout=300)
        # `build` makes the sdist of --setup_file without network (as in the SDK image).
        proc = subprocess.run(
            [str(building / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", "-r", str(REQUIREMENTS), "build", "setuptools>=68", "wheel"],
            capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            _unavailable(f"cannot install {REQUIREMENTS.name}: {proc.stderr[-3000:]}")
        try:
            building.rename(venv)  # only bin/python is used, which works from any folder
        except OSError:
            if not python.is_file():  # else another session made it meanwhile
                raise
        _remove_stale_venvs(root, keep=venv)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return str(python)


def _remove_stale_venvs(root: Path, keep: Path, age: float = 24 * 3600) -> None:
    """Drops virtualenvs of older requirements (about 1 GB each) unused for a day."""
    for old in root.glob("dataflow-*"):
        if old != keep and time.time() - old.stat().st_mtime > age:
            shutil.rmtree(old, ignore_errors=True)


def _offline_prefix() -> list[str]:
    """`unshare --net` when this machine lets us make a network namespace."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True).returncode == 0:
        return [unshare, "--net"]
    return []


def _dry_run(python: str, command: str, args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO),
               # Any credential lookup stays on this machine, and fails at once.
               GCE_METADATA_HOST="127.0.0.1:9", GCE_METADATA_IP="127.0.0.1:9",
               GOOGLE_APPLICATION_CREDENTIALS=os.devnull, NO_GCE_CHECK="True")
    proc = subprocess.run([*_offline_prefix(), python, "-c", DRIVER, command, *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-6000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("DRYRUN "))
    return json.loads(line[len("DRYRUN "):])


def _dataflow_args(**extra: str) -> list[str]:
    args = {"runner": "DataflowRunner", "dry_run": "True", "project": "demo-project",
            "region": "europe-west1", "temp_location": f"{BUCKET}/tmp",
            "staging_location": f"{BUCKET}/staging", "sdk_container_image": IMAGE,
            "setup_file": str(REPO / "setup.py"),
            # Template parameters, as the Flex Template launcher passes them.
            "feeds": "https://news.example.org/rss.xml,https://other.example.net/atom.xml",
            "output": f"{BUCKET}/news", "allow_private_network": "false"}
    args.update(extra)
    return [f"--{name}={value}" for name, value in args.items()]


def _assert_shipped_package(job: dict) -> None:
    """The workers' environment is the image, with this package's sdist staged."""
    (env,) = [e for e in job["environments"].values() if e["urn"] == "beam:env:docker:v1"]
    assert env["image"] == IMAGE
    staged = {d["staged_name"]: d["path"] for d in env["dependencies"]}
    assert "workflow.tar.gz" in staged, staged
    with tarfile.open(staged["workflow.tar.gz"]) as sdist:
        names = sdist.getnames()
    for package in ("pipelines", "transforms", "schemas"):
        assert any(f"/{package}/__init__.py" in n for n in names), (package, names[:20])


@pytest.mark.slow
@pytest.mark.timeout(2400)  # the first run makes the virtualenv
def test_batch_job_graph_on_dataflow(dataflow_python):
    job = _dry_run(dataflow_python, "ingest", _dataflow_args())
    assert job["state"] == "DONE"
    assert job["streaming"] is False and job["job_type"] == "JOB_TYPE_BATCH"
    assert job["region"] == "europe-west1"
    for stage in STAGES:
        assert any(stage in name.split("/") for name in job["transforms"]), stage
    _assert_shipped_package(job)


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_streaming_job_graph_on_dataflow(dataflow_python):
    job = _dry_run(dataflow_python, "stream", _dataflow_args(poll_interval="300", window="600"))
    assert job["state"] == "DONE"
    assert job["streaming"] is True and job["job_type"] == "JOB_TYPE_STREAMING"
    for stage in ("PollTicks", "PollFeeds", "FetchPages", "WriteArticles", "WriteRejects"):
        assert any(stage in name.split("/") for name in job["transforms"]), stage
    _assert_shipped_package(job)


# The deploy files agree with the project.

@pytest.mark.slow
def test_image_requirements_have_no_conflicts(dataflow_python):
    """What the Dockerfile's `pip check` checks, on the same pins."""
    proc = subprocess.run([dataflow_python, "-m", "pip", "check"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_requirements_and_project_pin_the_same_versions():
    pinned = _pins(REQUIREMENTS.read_text().splitlines())
    for name, version in _pins(_pyproject()["project"]["dependencies"]).items():
        assert pinned.get(name) == version, (name, version, pinned.get(name))
    assert "apache-beam[gcp]==" + _beam_pin() in REQUIREMENTS.read_text()
    dockerfile = (DEPLOY / "dataflow" / "Dockerfile").read_text()
    assert f"ARG BEAM_VERSION={_beam_pin()}" in dockerfile
    assert "FROM apache/beam_python3.11_sdk:${BEAM_VERSION}" in dockerfile
    assert "pip check" in dockerfile
    entry = re.search(r'FLEX_TEMPLATE_PYTHON_PY_FILE="\$\{WORKDIR\}/([^"]+)"', dockerfile).group(1)
    assert (REPO / entry).is_file()


def _flags(*option_classes) -> dict[str, argparse.Action]:
    parser = argparse.ArgumentParser()
    for cls in option_classes:
        cls._add_argparse_args(parser)
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}


def test_every_on_off_flag_is_a_boolean_template_parameter():
    # `--flag=true` becomes `--flag`, `--flag=false` is dropped: argparse would reject either as is
    from pipelines.options import NewsbeamOptions, StreamOptions

    launcher = _launcher()
    on_off = {dest for dest, action in _flags(NewsbeamOptions, StreamOptions).items()
              if isinstance(action, argparse._StoreTrueAction)}
    assert on_off and on_off <= set(launcher.BOOLEAN_FLAGS)
    assert launcher.template_argv(["--check_types=true", "--no_robots=false"]) == ["--check_types"]


@pytest.mark.parametrize("metadata, streaming", [("metadata.json", False),
                                                 ("metadata-stream.json", True)])
def test_template_parameters_are_the_pipeline_flags(metadata, streaming):
    from pipelines.options import NewsbeamOptions, StreamOptions

    spec = json.loads((DEPLOY / "dataflow" / metadata).read_text())
    assert spec["streaming"] is streaming
    params = {p["name"]: p for p in spec["parameters"]}
    flags = _flags(NewsbeamOptions, *([StreamOptions] if streaming else []))
    # `feeds` is the launcher's comma-separated form of the repeatable --feed.
    assert set(params) == (set(flags) - {"feed"}) | {"feeds"}
    assert params["output"]["isOptional"] is False
    for name, param in params.items():
        assert param["label"] and param["helpText"], name
        for regex in param.get("regexes", []):
            re.compile(regex)
        if name in flags and flags[name].nargs == 0:  # store_true flags
            assert re.fullmatch(param["regexes"][0], "true"), name


def _launcher():
    spec = importlib.util.spec_from_file_location("newsbeam_template_main",
                                                  DEPLOY / "dataflow" / "main.py")
    launcher = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launcher)
    return launcher


def test_template_arguments_become_newsbeam_arguments():
    launcher = _launcher()
    argv = launcher.template_argv(["--feeds=https://a.example/rss, https://b.example/atom",
                                   "--allow_private_network=false", "--no_robots=true",
                                   "--output=gs://b/news", "--runner=DataflowRunner"])
    assert argv == ["--feed=https://a.example/rss", "--feed=https://b.example/atom",
                    "--no_robots", "--output=gs://b/news", "--runner=DataflowRunner"]


def test_terraform_is_formatted():
    terraform = shutil.which("terraform")
    if not terraform:
        pytest.skip("terraform is not installed")
    proc = subprocess.run([terraform, "fmt", "-check", "-recursive", str(DEPLOY / "terraform")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    main_tf = (DEPLOY / "terraform" / "main.tf").read_text()
    assert 'resource "google_cloud_scheduler_job"' in main_tf
    assert "flexTemplates:launch" in main_tf
    assert 'resource "google_dataflow_flex_template_job"' in main_tf
    assert 'on_delete               = "drain"' in main_tf


def test_flink_cronjob_targets_the_session_cluster():
    cluster = list(yaml.safe_load_all((DEPLOY / "flink" / "flink-session-cluster.yaml").read_text()))
    (cron,) = yaml.safe_load_all((DEPLOY / "flink" / "cronjob.yaml").read_text())
    services = {d["metadata"]["name"]: d for d in cluster if d["kind"] == "Service"}
    deployments = {d["metadata"]["name"]: d for d in cluster if d["kind"] == "Deployment"}
    assert cron["kind"] == "CronJob" and len(cron["spec"]["schedule"].split()) == 5
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    args = dict(a.lstrip("-").split("=", 1) for a in container["args"])
    assert container["command"] == ["python", "-m", "pipelines.cli", "ingest"]
    assert args["runner"] == "FlinkRunner" and args["environment_type"] == "EXTERNAL"
    host, port = args["job_endpoint"].split(":")
    assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]]
    assert args["output"].startswith(("gs://", "s3://"))  # no local path on a cluster
    # The worker pool that EXTERNAL names runs beside every TaskManager.
    tm = deployments["flink-taskmanager"]["spec"]["template"]["spec"]["containers"]
    pool = next(c for c in tm if "--worker_pool" in c.get("args", []))
    assert args["environment_config"] == f"localhost:{pool['ports'][0]['containerPort']}"
    assert pool["image"] == container["image"]
    # One Flink minor version for the cluster and the job server.
    flink = {c["image"].split(":")[1].split("-")[0] for c in tm if c["name"] == "taskmanager"}
    server = deployments["beam-job-server"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert server == f"apache/beam_flink{flink.pop()}_job_server:{_beam_pin()}"
