"""The shape-stable tests on the other backend: JAX is where compiling once pays most."""

import pathlib

import pytest

from tests._backend_rerun import rerun_on_other_backend

_HERE = pathlib.Path(__file__).resolve().parent


@pytest.mark.slow
def test_shape_stable_suite_passes_on_another_backend():
    rerun_on_other_backend(
        [_HERE / "test_masked_equivalence.py", _HERE / "test_search.py"],
        f"{_HERE / 'test_backends.py'}::test_shape_stable_suite_passes_on_another_backend",
    )
