"""The morph tests that touch the backend, on a second Keras backend, in a subprocess."""

import os
import pathlib
import subprocess
import sys

import keras
import pytest

_GUARD = "KT_NASREPAIR_MORPH_BACKEND_SUBPROCESS"
_HERE = pathlib.Path(__file__).resolve().parent


# The files whose numbers go through the backend (weights written, models run); the pure numpy
# algebra and the argument checks do not depend on it.
_BACKEND_FILES = ("test_net2net.py", "test_morphisms.py", "test_transfer.py",
                  "test_batchnorm_modes.py")


@pytest.mark.slow
def test_morph_suite_passes_on_another_backend():
    if os.environ.get(_GUARD):  # pragma: no cover - only inside the child run
        pytest.fail("recursed into the backend subprocess test; it must be deselected")
    other = "tensorflow" if keras.backend.backend() == "jax" else "jax"
    env = dict(os.environ, KERAS_BACKEND=other, KT_NASREPAIR_OFFLINE="1", **{_GUARD: "1"})
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
         "--deselect", f"{_HERE / 'test_backends.py'}::test_morph_suite_passes_on_another_backend",
         "-o", "addopts=", *(str(_HERE / name) for name in _BACKEND_FILES)],
        cwd=_HERE.parents[1], env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_backend_switch_is_visible_to_keras():
    # The child sets KERAS_BACKEND; check that this is how Keras picks its backend.
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run(
        [sys.executable, "-c", "import keras; print(keras.backend.backend())"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == "jax"
