"""Runs a Python script in a fresh process with the repository importable, for tests that
need one thread at the start (forks) or their own Beam runner; returns the JSON it printed last."""
from __future__ import annotations

import json
import os
import subprocess
import sys


def run_script(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Runs `python -c code args...`; asserts it exits 0 and returns its last stdout line as JSON."""
    path = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", code, *args], env={**os.environ, "PYTHONPATH": path, **(env or {})},
                          cwd=os.getcwd(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
