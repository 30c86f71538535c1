"""Shared test set-up: offline, quiet, seeded."""

import os

# Tests never download: load_mnist("auto") must not probe the network here.
os.environ["KT_NASREPAIR_OFFLINE"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield
    # NOTE: free_memory=False skips the full gc.collect() that clear_session runs by default:
    # it cost about 0.3-0.5 s after every one of 700 tests (minutes of suite time); Python's
    # collector still runs on its own schedule.
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def digits_data():
    from kt_nasrepair.datasets import load_mnist

    return load_mnist("digits")
