"""Probes of any shape, unit-mixing activations, custom callables, the tolerance (issue 12)."""

import json
import math

import keras
import numpy as np
import pytest
from morph_factories import build_chain, infer, inputs

from kt_nasrepair import morph
from kt_nasrepair.morph import activations
from kt_nasrepair.morph import keras_models

TOL = morph.DEFAULT_MAX_DEVIATION


# -- probes shaped like (n, 64, 1) (item 3) -------------------------------------------------


def sequence_model(prefix=(), widths=(8,), seed=0):
    layers = [keras.Input((64, 1))] + [layer() for layer in prefix] + [keras.layers.Flatten()]
    layers += [keras.layers.Dense(w, activation="relu") for w in widths]
    model = keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([(0.5 + rng.random(w.shape)).astype("float32")
                               for w in layer.get_weights()])
    return model


def keras_gap(a, b, x):
    return float(np.max(np.abs(infer(a, x) - infer(b, x))))


@pytest.mark.parametrize("prefix", [
    (), (lambda: keras.layers.BatchNormalization(axis=-1),),
    (lambda: keras.layers.BatchNormalization(axis=1),),
], ids=["flatten", "bn-last-axis", "bn-axis-1"])
def test_probe_shaped_like_sequences_is_measured(prefix):
    donor = sequence_model(widths=(4,), seed=1)
    target = sequence_model(prefix, widths=(8, 8), seed=2)
    x = np.random.default_rng(0).normal(size=(16, 64, 1)).astype("float32")
    report = morph.transfer(donor, target, seed=0, probe=x)
    assert report.max_deviation <= TOL
    assert report.max_deviation == pytest.approx(keras_gap(target, donor, x), abs=1e-6)
    flat = morph.transfer(donor, sequence_model(prefix, widths=(8, 8)), seed=0, probe=x[..., 0])
    assert flat.max_deviation <= TOL


def test_deviation_falls_back_to_keras_when_numpy_cannot_evaluate(monkeypatch):
    donor = build_chain(6, [4, 5], batch_norm=True, seed=3)
    target = build_chain(6, [4, 5], seed=4)  # donor BN folded: a real training-mode gap
    x = inputs(6, n=16)

    def broken(layer, x, training=False):
        raise RuntimeError("numpy pass unavailable")

    monkeypatch.setattr(keras_models, "forward_layer", broken)
    report = morph.transfer(donor, target, seed=0, probe=x)
    monkeypatch.undo()
    assert report.max_deviation == pytest.approx(keras_gap(target, donor, x), abs=1e-6)
    assert report.max_deviation <= TOL  # the Keras pass left the donor's moving statistics
    train = [np.asarray(keras.ops.convert_to_numpy(m(x, training=True))) for m in (target, donor)]
    assert report.max_deviation_training == pytest.approx(
        float(np.max(np.abs(train[0] - train[1]))), rel=1e-4)


def test_probe_of_the_wrong_size_is_refused_before_writing():
    donor, target = build_chain(6, [4]), build_chain(6, [8])
    before = [w.copy() for w in target.get_weights()]
    with pytest.raises(ValueError, match="`probe` does not fit.*shape \\(4, 5\\)"):
        morph.transfer(donor, target, probe=np.zeros((4, 5)))
    for old, new in zip(before, target.get_weights()):
        np.testing.assert_array_equal(old, new)


# -- activations that mix units (item 4) ----------------------------------------------------


def _swish(x):
    return x * keras.ops.sigmoid(x)


@pytest.mark.parametrize("fn, mixes", [
    (keras.activations.relu, False), (keras.activations.gelu, False),
    (keras.activations.softmax, True), (keras.activations.log_softmax, True),
    (lambda x: x * keras.ops.sigmoid(x), False), (_swish, False),
    (lambda x: x - keras.ops.mean(x, axis=-1, keepdims=True), True),
    (lambda x: x / keras.ops.sum(keras.ops.abs(x), axis=0), True),
    (lambda x: keras.ops.concatenate([x, x], axis=-1), True),
])
def test_mixing_reason(fn, mixes):
    assert (activations.mixing_reason(fn) is not None) == mixes


def test_failing_custom_activation_is_reported_not_raised():
    def broken(x):
        raise KeyError("boom")

    assert "could not be checked" in activations.mixing_reason(broken)


def test_hidden_softmax_is_refused_when_widened():
    donor = build_chain(5, [4], activation="softmax")
    ok, reason = morph.can_transfer(donor, build_chain(5, [7], activation="softmax"))
    assert not ok and "element-wise" in reason and "'softmax'" in reason
    with pytest.raises(morph.NotMorphableError, match="only exact for element-wise"):
        morph.widen(donor, 0, 7)


def _custom_model(activation, widths=(4, 5), seed=0):
    keras.utils.set_random_seed(seed)
    layers = [keras.Input((6,))] + [keras.layers.Dense(w, activation=activation) for w in widths]
    return keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax")])


def test_custom_elementwise_lambda_is_morphable():
    def build(widths, seed):  # a fresh lambda per build, as in a user's build_model
        return _custom_model(lambda x: x * keras.ops.sigmoid(x), widths, seed)

    donor, target = build((4, 5), 0), build((6, 9), 1)
    x = inputs(6)
    assert morph.can_transfer(donor, target) == (True, None)
    report = morph.transfer(donor, target, seed=0, probe=x)
    assert report.within_tolerance() and keras_gap(target, donor, x) <= TOL
    wider = morph.widen(donor, 0, 9, seed=0)
    assert keras_gap(wider, donor, x) <= TOL


# -- live activation callables, NotMorphableError only, seeds (item 7) ---------------------


def my_activation(x):  # deliberately not registered with Keras
    return x * keras.ops.sigmoid(x)


def test_unregistered_activation_survives_widen_and_deepen():
    model = _custom_model(my_activation)
    x = inputs(6)
    wider = morph.widen(model, 0, 9, seed=0)
    deeper = morph.deepen(wider, 1, activation="linear")
    for grown in (wider, deeper):
        assert grown.layers[0].activation is my_activation
        np.testing.assert_allclose(infer(grown, x), infer(model, x), atol=1e-5)
    with pytest.raises(morph.NotMorphableError, match="custom:my_activation"):
        morph.deepen(model, 0)  # an identity layer with an unknown activation is not exact


def test_lambda_activation_and_custom_loss_survive_widen():
    model = _custom_model(lambda x: keras.ops.maximum(x, 0.1 * x))

    def my_loss(y_true, y_pred):
        return keras.ops.mean(keras.ops.square(y_true - y_pred))

    model.compile(optimizer="adam", loss=my_loss)
    wider = morph.widen(model, 1, 8, seed=0)
    assert wider.compiled and wider.layers[0].activation is model.layers[0].activation
    x = inputs(6)
    np.testing.assert_allclose(infer(wider, x), infer(model, x), atol=1e-5)


def conv_model():
    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3),
                             keras.layers.Flatten(), keras.layers.Dense(4, activation="relu"),
                             keras.layers.Dense(3)])


@pytest.mark.parametrize("call", [
    lambda: morph.widen(conv_model(), 0, 8), lambda: morph.deepen(conv_model(), 0),
    lambda: morph.describe(conv_model()), lambda: morph.transfer(conv_model(), conv_model()),
    lambda: morph.widen(keras.Sequential([keras.Input((3,)), keras.layers.Dense(
        2, kernel_initializer=_UnregisteredInit()), keras.layers.Dense(2)]), 0, 4),
], ids=["widen-conv", "deepen-conv", "describe-conv", "transfer-conv", "unregistered-init"])
def test_unmorphable_models_raise_not_morphable_only(call):
    with pytest.raises(morph.NotMorphableError):
        call()


class _UnregisteredInit(keras.initializers.Initializer):
    def __init__(self, scale=1.0):
        self.scale = scale

    def __call__(self, shape, dtype=None):
        return keras.ops.ones(shape, dtype=dtype) * self.scale

    def get_config(self):
        return {"scale": self.scale, "extra": object()}  # breaks from_config


def test_widen_and_deepen_are_deterministic_given_the_seed():
    model = build_chain(6, [3, 4], seed=0)
    first = morph.widen(model, 0, 12, seed=7).get_weights()
    again = morph.widen(model, 0, 12, seed=7).get_weights()
    other = morph.widen(model, 0, 12, seed=8).get_weights()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))
    deep = [morph.deepen(model, 1, seed=3).get_weights() for _ in range(2)]
    for a, b in zip(*deep):
        np.testing.assert_array_equal(a, b)


# -- the tolerance (item 5) -----------------------------------------------------------------


def test_default_max_deviation_and_within_tolerance():
    assert morph.DEFAULT_MAX_DEVIATION == 1e-3

    def report(deviation, scale=1.0, training=0.0):
        return morph.MorphReport([], 0.0, deviation, max_deviation_training=training,
                                 output_scale=scale)

    assert report(5e-4).within_tolerance()
    assert not report(2e-3).within_tolerance()
    assert report(5e-3, scale=10.0).within_tolerance()  # relative above an output scale of 1
    assert not report(math.nan).within_tolerance()
    assert report(1e-4, training=0.3).within_tolerance()
    assert not report(1e-4, training=0.3).within_tolerance(training=True)
    assert not report(1e-4, training=None).within_tolerance(training=True)
    assert report(2e-3).within_tolerance(1e-2)
    with pytest.raises(ValueError, match="tol=-1"):
        report(0.0).within_tolerance(-1)
    payload = json.loads(json.dumps(report(math.nan, training=None).to_dict(), allow_nan=False))
    assert payload["max_deviation"] is None and payload["max_deviation_training"] is None


def test_a_changed_function_is_out_of_tolerance():
    donor = build_chain(5, [4], activation="relu")
    target = build_chain(5, [4], activation="relu")
    x = inputs(5)
    report = morph.transfer(donor, target, noise_std=0, probe=x)
    assert report.within_tolerance()
    bias = target.get_layer("output").bias
    # What a transfer that went wrong looks like to the report: one logit moved.
    bias.assign(bias + np.array([5.0, 0.0, 0.0], "float32"))
    scale = float(np.max(np.abs(infer(donor, x))))
    broken = morph.MorphReport([], 0.0, keras_gap(target, donor, x), output_scale=scale)
    assert not broken.within_tolerance()


@pytest.mark.parametrize("noise_std", [True, math.inf, -1, "0.1"])
def test_noise_std_must_be_a_finite_number(noise_std):
    model = build_chain(4, [3])
    with pytest.raises(ValueError, match="`noise_std` must be a finite number >= 0"):
        morph.widen(model, 0, 5, noise_std=noise_std)
    with pytest.raises(ValueError, match="`noise_std` must be a finite number >= 0"):
        morph.transfer(model, build_chain(4, [5]), noise_std=noise_std)


def test_deepen_unknown_activation_name_is_named():
    with pytest.raises(ValueError, match="`activation` must be None or a Keras activation name"
                                         ".*activation='swishy'"):
        morph.deepen(build_chain(4, [3]), 0, activation="swishy")
