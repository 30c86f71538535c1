import numpy as np
import pytest

from kt_nasrepair import datasets
from kt_nasrepair.datasets import load_mnist


def test_mnist_5k_split_shapes_ranges_and_balance():
    (x_train, y_train), (x_test, y_test) = load_mnist("mnist-5k")
    assert x_train.shape == (4000, 784) and x_test.shape == (1000, 784)
    assert y_train.shape == (4000, 10) and y_test.shape == (1000, 10)
    for x in (x_train, x_test):
        assert x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0
        assert x.max() > 0.9  # scaled, not clipped to zero
    np.testing.assert_allclose(y_train.sum(axis=1), 1.0)
    # Stratified: every class holds the same share of both splits (within one sample).
    train_share = y_train.sum(axis=0) / len(y_train)
    test_share = y_test.sum(axis=0) / len(y_test)
    np.testing.assert_allclose(train_share, test_share, atol=1.5e-3)
    assert (y_test.sum(axis=0) >= 80).all()


def test_mnist_5k_is_deterministic_and_disjoint():
    (a, _), (t, _) = load_mnist("mnist-5k", one_hot=False)
    (b, _), _ = load_mnist("mnist-5k", one_hot=False)
    np.testing.assert_array_equal(a, b)
    train_rows = {row.tobytes() for row in a}
    assert sum(row.tobytes() in train_rows for row in t) <= 5  # MNIST has a few duplicates


def test_unflattened_and_integer_labels():
    (x_train, y_train), _ = load_mnist("digits", flatten=False, one_hot=False)
    assert x_train.shape == (1437, 8, 8) and y_train.dtype == np.int64
    assert set(np.unique(y_train)) == set(range(10))
    assert x_train.max() == pytest.approx(1.0)


def test_auto_falls_back_offline_with_a_notice(monkeypatch, capsys):
    monkeypatch.setattr(datasets, "keras_mnist_cached", lambda: False)
    (x_train, _), _ = load_mnist("auto")
    assert x_train.shape == (4000, 784)
    assert "mnist-5k" in capsys.readouterr().err


def test_auto_offline_env_never_touches_the_network(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("network probed")

    monkeypatch.setattr(datasets.socket, "create_connection", forbidden)
    assert datasets._network_reachable() is False


def test_auto_prefers_keras_when_cached(monkeypatch):
    monkeypatch.setattr(datasets, "keras_mnist_cached", lambda: True)
    assert datasets._choose_auto_source() == "keras"


def test_missing_optional_package_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("mlxtend"):
            raise ImportError("No module named 'mlxtend'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"kt-nasrepair\[examples\]"):
        load_mnist("mnist-5k")


def test_unknown_source():
    with pytest.raises(ValueError, match="`source`"):
        load_mnist("cifar")
