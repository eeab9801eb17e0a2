"""The package as workers get it: wheel and sdist -> a fresh virtualenv -> golden ingest.

`--setup_file ./setup.py` makes Beam build this project's sdist and install it
on every remote worker (Dataflow, a Flink worker pool), and the Flex Template
image installs the same package. This test builds the wheel and the sdist
from a copy of the files the package is made of, installs the wheel (with its
dependencies, from the package index) into a new virtualenv, runs the golden
ingest with the installed `newsbeam` command from outside the repository, then
does the same with the sdist in place of the wheel.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

from tests.support.golden import GoldenSite, assert_golden_dataset

# Generous: the first install downloads every dependency.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("pipelines", "transforms", "schemas")
# What the package is made of: everything else in the repository stays out.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "MANIFEST.in", "LICENSE", *PACKAGES)


def _run(cmd: list[str], timeout: float = 1800, **kwargs) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory(prefix="newsbeam-packaging-") as folder:
        yield Path(folder)


@pytest.fixture(scope="module")
def dists(workdir) -> dict[str, Path]:
    """The wheel and the sdist, built from a copy of the package's sources."""
    src = workdir / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.is_file():
            shutil.copy2(path, src / name)
    out = workdir / "dist"
    # The wheel is built from the sdist: a file missing from the sdist fails here.
    # An isolated build, with the build requirements pyproject.toml declares.
    _run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(src)],
         timeout=600)
    (wheel,) = out.glob("newsbeam-*.whl")
    (sdist,) = out.glob("newsbeam-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def fresh_venv(workdir) -> Path:
    venv = workdir / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    return venv


@pytest.fixture(scope="module")
def golden_site():
    with GoldenSite() as site:
        yield site


def _install(venv: Path, dist: Path) -> None:
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "uninstall", "--yes", "newsbeam"], capture_output=True, timeout=300)
    _run([*pip, "install", "--quiet", str(dist)])


def _golden_ingest(venv: Path, site: GoldenSite, output: Path, cwd: Path) -> None:
    """`newsbeam ingest` of the installed package, from outside the repository."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.Popen([str(venv / "bin" / "newsbeam"), "ingest", *site.ingest_args(output)],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    assert proc.returncode == 0, err[-6000:]
    assert "articles written 5" in out, out


def _imported_from(venv: Path, cwd: Path) -> dict[str, str]:
    code = ("import importlib, json; print(json.dumps({p: importlib.import_module(p).__file__ "
            f"for p in {PACKAGES!r}}}))")
    return json.loads(_run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, timeout=120))


def test_wheel_holds_the_packages_and_their_data(dists):
    names = zipfile.ZipFile(dists["wheel"]).namelist()
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, package
    for path in (REPO / "transforms").glob("*.json"):
        assert f"transforms/{path.name}" in names, path.name
    assert not [n for n in names if n.startswith(("tests/", "deploy/", "scripts/"))]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "newsbeam = pipelines.cli:run" in zipfile.ZipFile(dists["wheel"]).read(entry_points).decode()


def test_sdist_holds_what_setup_file_needs(dists):
    with tarfile.open(dists["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"setup.py", "pyproject.toml", "PKG-INFO"} <= names
    for package in PACKAGES:
        assert f"{package}/__init__.py" in names, package


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_golden_ingest_from_the_installed_package(kind, dists, fresh_venv, golden_site, workdir):
    # The first install brings the dependencies; the second finds them there.
    _install(fresh_venv, dists[kind])
    elsewhere = workdir / f"cwd-{kind}"
    elsewhere.mkdir()
    site_packages = str(fresh_venv / "lib")
    for package, location in _imported_from(fresh_venv, elsewhere).items():
        assert location.startswith(site_packages), (package, location)
    output = workdir / f"dataset-{kind}"
    _golden_ingest(fresh_venv, golden_site, output, elsewhere)
    assert_golden_dataset(output, golden_site.docs)
