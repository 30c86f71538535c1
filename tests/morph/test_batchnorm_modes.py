"""BatchNormalization preserved in inference AND training mode (issue 12, item 6)."""

import keras
import numpy as np
import pytest
from morph_factories import build_chain, infer, inputs

from kt_nasrepair import morph

TOL = morph.DEFAULT_MAX_DEVIATION


def train_mode(model, x):
    """Training-mode output on batch `x` (batch statistics), moving statistics restored."""
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    saved = [l.get_weights() for l in bns]
    out = keras.ops.convert_to_numpy(model(keras.ops.convert_to_tensor(x), training=True))
    for layer, weights in zip(bns, saved):
        layer.set_weights(weights)
    return np.asarray(out)


def assert_both_modes_match(morphed, model, x, tol=TOL):
    np.testing.assert_allclose(infer(morphed, x), infer(model, x), atol=tol, rtol=0)
    np.testing.assert_allclose(train_mode(morphed, x), train_mode(model, x), atol=tol, rtol=0)


def head_bn_chain(widths, use_bias=True, seed=0):
    """Dense -> BatchNormalization -> ReLU blocks (the normalisation before the activation)."""
    layers = [keras.Input((6,))]
    for i, width in enumerate(widths):
        layers += [keras.layers.Dense(width, use_bias=use_bias, name=f"dense_{i}"),
                   keras.layers.BatchNormalization(name=f"bn_{i}"),
                   keras.layers.Activation("relu", name=f"act_{i}")]
    model = keras.Sequential(layers + [keras.layers.Dense(3, activation="softmax", name="out")])
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([(0.5 + rng.random(gamma.shape)).astype("float32"),
                               rng.normal(size=beta.shape).astype("float32"),
                               rng.normal(size=mean.shape).astype("float32"),
                               (0.5 + rng.random(var.shape)).astype("float32")])
        elif isinstance(layer, keras.layers.Dense) and layer.use_bias:
            kernel, bias = layer.get_weights()
            layer.set_weights([kernel, rng.normal(size=bias.shape).astype("float32")])
    return model


def test_transfer_with_batchnorm_on_both_sides_matches_in_training_mode():
    donor = build_chain(6, [4, 5], batch_norm=True, seed=1)
    target = build_chain(6, [7, 5, 9], batch_norm=True, seed=2)
    x = inputs(6, n=32)
    report = morph.transfer(donor, target, seed=0, probe=x)
    # bn_1 follows donor dense_1's copy; the identity layer dense_2 comes before donor bn_1.
    assert report.batch_norm == {"bn_0": "bn_0", "bn_1": None, "bn_2": "bn_1"}
    assert_both_modes_match(target, donor, x)
    assert report.max_deviation <= TOL and report.max_deviation_training <= TOL
    assert report.within_tolerance(training=True)


def test_growth_transfer_between_same_depth_batchnorm_models():
    # What the tuner does when a trial grows: the checkpoint into the widened architecture.
    donor = build_chain(6, [3, 4], batch_norm=True, seed=3)
    target = build_chain(6, [6, 8], batch_norm=True, seed=4)
    x = inputs(6, n=32, seed=1)
    report = morph.transfer(donor, target, noise_std=0, probe=x)
    assert report.batch_norm == {"bn_0": "bn_0", "bn_1": "bn_1"}
    assert_both_modes_match(target, donor, x)


def test_head_batchnorm_carried_and_bias_absorbed_in_both_modes():
    donor = head_bn_chain([4, 3], use_bias=True, seed=5)
    target = head_bn_chain([6, 3, 5], use_bias=False, seed=6)  # the bias moves into the BN
    x = inputs(6, n=32, seed=2)
    report = morph.transfer(donor, target, seed=0, probe=x)
    assert report.batch_norm == {"bn_0": "bn_0", "bn_1": "bn_1", "bn_2": None}
    assert_both_modes_match(target, donor, x)
    assert report.max_deviation_training <= TOL


def test_target_only_batchnorm_is_identity_in_inference_and_on_the_probe_in_training():
    donor = build_chain(6, [4, 5], seed=7)
    target = build_chain(6, [4, 8, 8], batch_norm=True, seed=8)
    x = inputs(6, n=32, seed=3)
    report = morph.transfer(donor, target, seed=0, probe=x)
    assert set(report.batch_norm.values()) == {None}
    assert_both_modes_match(target, donor, x)
    other = inputs(6, n=32, seed=4)  # another batch: inference still exact
    np.testing.assert_allclose(infer(target, other), infer(donor, other), atol=TOL)


def test_donor_only_batchnorm_is_exact_in_inference_only_and_reported():
    donor = build_chain(6, [4, 5], batch_norm=True, seed=9)
    target = build_chain(6, [4, 5], seed=10)
    x = inputs(6, n=32, seed=5)
    report = morph.transfer(donor, target, seed=0, probe=x)
    assert report.max_deviation <= TOL
    gap = float(np.max(np.abs(train_mode(target, x) - train_mode(donor, x))))
    assert gap > 10 * TOL
    assert report.max_deviation_training == pytest.approx(gap, rel=1e-3)
    assert report.within_tolerance() and not report.within_tolerance(training=True)


def test_widen_and_deepen_with_batchnorm_match_in_both_modes():
    model = build_chain(6, [4, 5], batch_norm=True, seed=11)
    x = inputs(6, n=32, seed=6)
    assert_both_modes_match(morph.widen(model, "dense_0", 9, seed=0), model, x)
    assert_both_modes_match(morph.deepen(model, "dense_1"), model, x)
    head = head_bn_chain([4, 3], seed=12)
    assert_both_modes_match(morph.deepen(morph.widen(head, 1, 7, seed=1), 1), head, x)


def test_dropout_is_excluded_from_the_training_deviation():
    donor = build_chain(6, [4, 5], batch_norm=True, dropout=0.5, seed=13)
    target = build_chain(6, [8, 5, 5], batch_norm=True, dropout=0.5, seed=14)
    x = inputs(6, n=32, seed=7)
    report = morph.transfer(donor, target, seed=0, probe=x)
    assert report.max_deviation_training is not None
    assert report.max_deviation_training <= TOL
