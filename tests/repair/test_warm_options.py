"""Shrink-and-perturb and the fresh cosine schedule for warm children (repair/warm_options.py)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from kt_nasrepair import morph
from kt_nasrepair.repair.warm_options import (
    CosineSchedule,
    cosine_factor,
    shrink_perturb,
    shrink_perturb_model,
    trainable_arrays,
)


def _mlp(widths=(8,), lr=1e-3, batchnorm=False, inputs=4):
    layers = [keras.Input(shape=(inputs,))]
    for i, width in enumerate(widths):
        layers.append(keras.layers.Dense(width, activation="relu", name=f"dense_{i}"))
        if batchnorm:
            layers.append(keras.layers.BatchNormalization(name=f"bn_{i}"))
    layers.append(keras.layers.Dense(3, activation="softmax", name="output"))
    model = keras.Sequential(layers)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="categorical_crossentropy")
    return model


def _data(n=40, inputs=4):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, inputs)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 3, n), 3).astype("float32")
    return x, y


def _rate(model):
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


# -- shrink_perturb -------------------------------------------------------------------------


def test_shrink_perturb_is_the_weighted_sum_per_array():
    warm = [np.array([[1.0, -2.0], [3.0, 0.5]], np.float32), np.array([0.2, -0.4], np.float32)]
    fresh = [np.array([[0.5, 0.5], [-1.0, 2.0]], np.float32), np.zeros(2, np.float32)]
    out = shrink_perturb(warm, fresh, shrink=0.4, perturb=0.1)
    np.testing.assert_allclose(out[0], [[0.45, -0.75], [1.1, 0.4]], rtol=1e-6)
    np.testing.assert_allclose(out[1], [0.08, -0.16], rtol=1e-6)
    assert [a.dtype for a in out] == [np.float32, np.float32]
    # Nothing modified in place.
    np.testing.assert_array_equal(warm[0], [[1.0, -2.0], [3.0, 0.5]])


def test_shrink_one_perturb_zero_is_the_identity_and_shrink_zero_is_a_scaled_fresh_init():
    rng = np.random.default_rng(1)
    warm, fresh = [rng.normal(size=(5, 3))], [rng.normal(size=(5, 3))]
    np.testing.assert_allclose(shrink_perturb(warm, fresh, 1.0, 0.0)[0], warm[0], rtol=1e-12)
    np.testing.assert_allclose(shrink_perturb(warm, fresh, 0.0, 0.5)[0], 0.5 * fresh[0],
                               rtol=1e-12)


def test_shrink_perturb_defaults_are_ash_and_adams():
    out = shrink_perturb([np.ones(3)], [np.full(3, 2.0)])
    np.testing.assert_allclose(out[0], 0.4 * 1 + 0.1 * 2, rtol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(shrink=1.5), "`shrink` must be a number in \\[0, 1\\].*Received: shrink=1.5"),
    (dict(shrink=-0.1), "Received: shrink=-0.1"),
    (dict(shrink=True), "Received: shrink=True"),
    (dict(perturb=-1), "`perturb` must be a finite number >= 0.*Received: perturb=-1"),
    (dict(perturb=float("nan")), "Received: perturb=nan"),
])
def test_shrink_perturb_refuses_bad_factors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        shrink_perturb([np.ones(2)], [np.ones(2)], **kwargs)


def test_shrink_perturb_refuses_mismatched_arrays():
    with pytest.raises(ValueError, match="as many arrays as `warm_weights` \\(2\\)"):
        shrink_perturb([np.ones(2), np.ones(3)], [np.ones(2)])
    with pytest.raises(ValueError, match=r"fresh_weights\[1\]` must be an array of shape \(3,\)"):
        shrink_perturb([np.ones(2), np.ones(3)], [np.ones(2), np.ones(4)])


def test_shrink_perturb_model_mixes_a_transferred_child_with_its_fresh_init():
    donor, child = _mlp((4,)), _mlp((8, 8))
    fresh = trainable_arrays(child)
    morph.transfer(donor, child, seed=0)
    inherited = trainable_arrays(child)
    x = np.random.default_rng(2).normal(size=(16, 4)).astype("float32")
    np.testing.assert_allclose(morph.forward(child, x), morph.forward(donor, x), atol=1e-5)
    shrink_perturb_model(child, fresh, shrink=0.4, perturb=0.1)
    for got, warm, init in zip(trainable_arrays(child), inherited, fresh):
        np.testing.assert_allclose(got, 0.4 * warm + 0.1 * init, rtol=1e-5, atol=1e-7)
    # It gives up exact function preservation (the point of the method).
    assert np.abs(morph.forward(child, x) - morph.forward(donor, x)).max() > 1e-3


def test_shrink_perturb_model_leaves_batchnorm_statistics_and_accepts_a_fresh_model():
    model, fresh_model = _mlp((6,), batchnorm=True), _mlp((6,), batchnorm=True)
    bn = model.get_layer("bn_0")
    bn.moving_mean.assign(np.full(6, 0.7, np.float32))
    bn.moving_variance.assign(np.full(6, 2.5, np.float32))
    before = trainable_arrays(model)
    shrink_perturb_model(model, fresh_model, shrink=0.5, perturb=0.2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), 0.7, rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_variance), 2.5, rtol=1e-6)
    names = [v.path for v in model.trainable_weights]
    assert any("gamma" in n for n in names) and any("beta" in n for n in names)
    for got, warm, init in zip(trainable_arrays(model), before, trainable_arrays(fresh_model)):
        np.testing.assert_allclose(got, 0.5 * warm + 0.2 * init, rtol=1e-5, atol=1e-7)


def test_shrink_perturb_model_refuses_fresh_weights_of_another_architecture():
    with pytest.raises(ValueError, match="fresh_weights"):
        shrink_perturb_model(_mlp((8,)), trainable_arrays(_mlp((5,))))


# -- cosine_factor --------------------------------------------------------------------------


def test_cosine_factor_hand_computed_values():
    assert cosine_factor(0, 4) == pytest.approx(1.0)
    assert cosine_factor(1, 4) == pytest.approx((1 + math.cos(math.pi / 4)) / 2)
    assert cosine_factor(2, 4) == pytest.approx(0.5)
    assert cosine_factor(4, 4) == pytest.approx(0.0)
    assert cosine_factor(9, 4) == pytest.approx(0.0)  # past the end: held at `end`
    assert cosine_factor(2, 4, start=0.5, end=0.1) == pytest.approx(0.3)
    assert cosine_factor(3, 4, start=0.3, end=0.3) == pytest.approx(0.3)


def test_cosine_factor_warmup_rises_linearly_then_decays_from_start():
    values = [cosine_factor(s, 10, start=1.0, end=0.0, warmup=2) for s in range(10)]
    np.testing.assert_allclose(values[:3], [0.5, 1.0, 1.0], rtol=1e-12)
    assert values[5] == pytest.approx((1 + math.cos(math.pi * 3 / 8)) / 2)
    assert all(a >= b for a, b in zip(values[1:], values[2:]))


# -- CosineSchedule -------------------------------------------------------------------------


def test_cosine_schedule_per_batch_follows_the_cosine_and_restores_the_rate():
    model = _mlp(lr=1e-2)
    x, y = _data(40)
    schedule = CosineSchedule()
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[schedule])
    expected = [1e-2 * (1 + math.cos(math.pi * s / 8)) / 2 for s in range(8)]
    np.testing.assert_allclose(schedule.rates, expected, rtol=1e-6)
    assert _rate(model) == pytest.approx(1e-2, rel=1e-6)


def test_cosine_schedule_per_epoch_with_a_lower_start_and_initial_epoch():
    model = _mlp(lr=1e-2)
    x, y = _data(40)
    schedule = CosineSchedule(start_factor=0.5, end_factor=0.1, per_batch=False)
    # A continued fit (initial_epoch=2, epochs=6): one cycle over its own 4 epochs.
    model.fit(x, y, batch_size=10, initial_epoch=2, epochs=6, verbose=0, callbacks=[schedule])
    expected = [1e-2 * cosine_factor(e, 4, 0.5, 0.1) for e in range(4)]
    np.testing.assert_allclose(schedule.rates, expected, rtol=1e-6)
    assert schedule.rates[0] == pytest.approx(5e-3)
    assert _rate(model) == pytest.approx(1e-2, rel=1e-6)


def test_cosine_schedule_sets_the_rate_the_optimizer_uses():
    """The rate in effect during a batch is the scheduled one (read inside the batch)."""
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(_rate(self.model))

    model = _mlp(lr=1e-3)
    x, y = _data(20)
    schedule = CosineSchedule(start_factor=0.5, end_factor=0.5, warmup=0.5)
    model.fit(x, y, batch_size=5, epochs=2, verbose=0, callbacks=[schedule, Spy()])
    np.testing.assert_allclose(seen, [1.25e-4, 2.5e-4, 3.75e-4, 5e-4, 5e-4, 5e-4, 5e-4, 5e-4],
                               rtol=1e-5)
    assert _rate(model) == pytest.approx(1e-3, rel=1e-6)


def test_cosine_schedule_is_reusable_across_fits():
    model = _mlp(lr=1e-2)
    x, y = _data(20)
    schedule = CosineSchedule(per_batch=False)
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[schedule])
    model.fit(x, y, batch_size=10, epochs=2, verbose=0, callbacks=[schedule])
    np.testing.assert_allclose(schedule.rates, [1e-2, 5e-3], rtol=1e-6)


def test_cosine_schedule_leaves_a_learning_rate_schedule_alone_with_a_warning():
    model = _mlp()
    decay = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.5)
    model.compile(optimizer=keras.optimizers.Adam(decay), loss="categorical_crossentropy")
    x, y = _data(20)
    schedule = CosineSchedule()
    with pytest.warns(UserWarning, match="leaves the learning rate alone"):
        model.fit(x, y, batch_size=10, epochs=1, verbose=0, callbacks=[schedule])
    assert schedule.rates == []


@pytest.mark.parametrize("kwargs, match", [
    (dict(start_factor=0), "`start_factor` must be a finite number > 0.*Received: start_factor=0"),
    (dict(end_factor=2.0), r"`end_factor` must be a number in \[0, start_factor=1.0\]"),
    (dict(end_factor=-0.1), "Received: end_factor=-0.1"),
    (dict(warmup=1.0), r"`warmup` must be a share of the schedule in \[0, 1\)"),
    (dict(per_batch="yes"), "`per_batch` must be True or False. Received: per_batch='yes'"),
    (dict(verbose=2), "Received: verbose=2"),
])
def test_cosine_schedule_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CosineSchedule(**kwargs)


def test_cosine_schedule_rate_is_the_one_the_optimizer_steps_with():
    """Adam moves each weight by about the rate per step: with the compiled rate 1.0 scaled
    to 1e-6, the weights must barely move (they would move by ~1 if the rate were ignored)."""
    model = _mlp(lr=1.0)
    x, y = _data(20)
    before = trainable_arrays(model)
    schedule = CosineSchedule(start_factor=1e-6, end_factor=1e-6)
    model.fit(x, y, batch_size=5, epochs=1, verbose=0, callbacks=[schedule])
    moved = max(np.abs(a - b).max() for a, b in zip(trainable_arrays(model), before))
    assert 0 < moved < 1e-4
    assert _rate(model) == pytest.approx(1.0)


def test_cosine_schedule_falls_back_to_per_epoch_when_the_steps_are_unknown():
    model = _mlp(lr=1e-2)
    schedule = CosineSchedule()
    schedule.set_model(model)
    schedule.set_params({"epochs": 3, "steps": None, "verbose": 0})
    schedule.on_train_begin()
    for epoch in range(3):
        schedule.on_epoch_begin(epoch)
        schedule.on_train_batch_begin(0)  # ignored: the schedule runs per epoch
    np.testing.assert_allclose(schedule.rates, [1e-2, 7.5e-3, 2.5e-3], rtol=1e-6)
    schedule.on_train_end()
    assert _rate(model) == pytest.approx(1e-2, rel=1e-6)
