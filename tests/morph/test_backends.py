"""The morph tests that touch the backend, on a second Keras backend, in a subprocess."""

import os
import pathlib
import subprocess
import sys

import pytest

from tests._backend_rerun import rerun_on_other_backend

_HERE = pathlib.Path(__file__).resolve().parent


# The files whose numbers go through the backend (weights written, models run); the pure numpy
# algebra and the argument checks do not depend on it.
_BACKEND_FILES = ("test_net2net.py", "test_morphisms.py", "test_transfer.py",
                  "test_batchnorm_modes.py")


@pytest.mark.slow
def test_morph_suite_passes_on_another_backend():
    rerun_on_other_backend(
        [_HERE / name for name in _BACKEND_FILES],
        f"{_HERE / 'test_backends.py'}::test_morph_suite_passes_on_another_backend",
    )


def test_backend_switch_is_visible_to_keras():
    # The child sets KERAS_BACKEND; check that this is how Keras picks its backend.
    env = dict(os.environ, KERAS_BACKEND="jax")
    out = subprocess.run(
        [sys.executable, "-c", "import keras; print(keras.backend.backend())"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == "jax"
