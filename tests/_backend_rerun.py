"""Reruns test files on the other Keras backend (TensorFlow <-> JAX), in a subprocess."""

import os
import subprocess
import sys

import keras

GUARD = "KT_NASREPAIR_BACKEND_SUBPROCESS"


def rerun_on_other_backend(paths, caller):
    """Runs the tests in `paths` (not `caller`, a node id) with the other backend; asserts."""
    if os.environ.get(GUARD):  # pragma: no cover - only inside the child run
        raise AssertionError("recursed into the backend subprocess test; deselect it")
    other = "tensorflow" if keras.backend.backend() == "jax" else "jax"
    env = dict(os.environ, KERAS_BACKEND=other, KT_NASREPAIR_OFFLINE="1", **{GUARD: "1"})
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         "--deselect", caller, "-o", "addopts=", *map(str, paths)],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
