"""Packaging stub: the project is described in pyproject.toml.

Kept so that `--setup_file ./setup.py` ships `pipelines`, `transforms` and
`schemas` to Dataflow (and other remote) workers.
"""
import setuptools

setuptools.setup()
