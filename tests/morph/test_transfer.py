"""can_transfer / transfer between whole models."""

import json

import keras
import numpy as np
import pytest
from morph_factories import build_chain, infer, inputs

from kt_nasrepair import DenseHyperModel, morph


def _hypermodel_model(num_layers, units, dropout=None):
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.Fixed("num_layers", num_layers)
    hp.Fixed("units", units)
    space = DenseHyperModel(input_shape=(12,), num_classes=4, num_layers=(1, 10),
                            units=(1, 256, 1), per_layer_units=False,
                            dropout=None if dropout is None else (dropout, dropout),
                            learning_rate=None)
    if dropout is not None:
        hp.Fixed("dropout", dropout)
    return space.build(hp)


def test_transfer_between_hypermodel_models_is_exact():
    donor = _hypermodel_model(2, 5)
    target = _hypermodel_model(3, 8, dropout=0.25)
    x = inputs(12)
    report = morph.transfer(donor, target, noise_std=0, seed=0)
    assert report.ops == ["widen dense_0 5->8", "widen dense_1 5->8",
                          "deepen after dense_1", "widen dense_2 5->8"]
    assert report.alignment == {"dense_0": "dense_0", "dense_1": "dense_1", "dense_2": None}
    assert report.max_deviation <= 1e-5
    np.testing.assert_allclose(infer(target, x), infer(donor, x), atol=1e-5)
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["ops"] == report.ops and payload["seconds"] >= 0


def test_transfer_with_default_noise_is_still_exact_and_reports_deviation():
    donor = build_chain(10, [6, 7], batch_norm=True)
    target = build_chain(10, [9, 9, 12, 16])
    x = inputs(10)
    report = morph.transfer(donor, target, seed=1, probe=x)
    np.testing.assert_allclose(infer(target, x), infer(donor, x), atol=1e-5)
    assert report.max_deviation == pytest.approx(
        np.max(np.abs(morph.forward(target, x) - morph.forward(donor, x))), abs=1e-6)


@pytest.mark.parametrize("donor_bn, target_bn", [(True, False), (False, True), (True, True)])
def test_transfer_across_batchnorm_and_dropout(donor_bn, target_bn):
    donor = build_chain(7, [4, 3], batch_norm=donor_bn, dropout=0.1, seed=2)
    target = build_chain(7, [4, 5, 6], batch_norm=target_bn, dropout=0.4, seed=3)
    x = inputs(7)
    report = morph.transfer(donor, target, noise_std=0, seed=0)
    assert report.max_deviation <= 1e-5
    np.testing.assert_allclose(infer(target, x), infer(donor, x), atol=1e-5)


def test_transfer_finds_a_non_trivial_alignment():
    # Target layer 1 (4 units) is narrower than donor layer 1 (8): it becomes an identity
    # copy of donor layer 0 and donor layer 1 goes to target layer 2.
    donor = build_chain(5, [4, 8])
    target = build_chain(5, [4, 4, 8])
    report = morph.transfer(donor, target, noise_std=0)
    assert report.alignment == {"dense_0": "dense_0", "dense_1": None, "dense_2": "dense_1"}
    assert report.ops == ["deepen after dense_0"]
    x = inputs(5)
    np.testing.assert_allclose(infer(target, x), infer(donor, x), atol=1e-5)


@pytest.mark.parametrize("donor_kwargs, target_kwargs, match", [
    (dict(input_dim=5, widths=[4]), dict(input_dim=6, widths=[4]), "Input shapes differ"),
    (dict(input_dim=5, widths=[4]), dict(input_dim=5, widths=[4], outputs=2),
     "Output widths differ"),
    (dict(input_dim=5, widths=[4]), dict(input_dim=5, widths=[4], output_activation="sigmoid"),
     "Output activations differ"),
    (dict(input_dim=5, widths=[4, 4]), dict(input_dim=5, widths=[8]), "fewer hidden Dense"),
    (dict(input_dim=5, widths=[4, 6]), dict(input_dim=5, widths=[8, 5]),
     "No monotone alignment.*\\[4 relu, 6 relu\\]"),
    (dict(input_dim=5, widths=[4], activation="tanh"),
     dict(input_dim=5, widths=[4, 4], activation="tanh"), "No monotone alignment"),
    (dict(input_dim=5, widths=[4], activation="tanh"), dict(input_dim=5, widths=[4]),
     "No monotone alignment"),
])
def test_unreachable_targets_give_reasons(donor_kwargs, target_kwargs, match):
    donor, target = build_chain(**donor_kwargs), build_chain(**target_kwargs)
    ok, reason = morph.can_transfer(donor, target)
    assert not ok
    assert reason is not None and __import__("re").search(match, reason), reason
    before = [w.copy() for w in target.get_weights()]
    with pytest.raises(morph.NotMorphableError, match=match):
        morph.transfer(donor, target)
    for old, new in zip(before, target.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_can_transfer_accepts_reachable_targets():
    assert morph.can_transfer(build_chain(5, [3, 3]), build_chain(5, [3, 9, 9, 3])) == (
        True, None)
    assert morph.can_transfer(build_chain(5, []), build_chain(5, [])) == (True, None)
    assert morph.can_transfer(build_chain(5, []), build_chain(5, [4]))[0] is False


def test_tanh_donor_reaches_a_target_with_linear_inserts():
    donor = build_chain(5, [4], activation="tanh")
    target = keras.Sequential([
        keras.Input((5,)), keras.layers.Dense(6, activation="tanh", name="d0"),
        keras.layers.Dense(7, name="extra"), keras.layers.Dense(3, activation="softmax")])
    report = morph.transfer(donor, target, noise_std=0)
    x = inputs(5)
    assert report.max_deviation <= 1e-5
    np.testing.assert_allclose(infer(target, x), infer(donor, x), atol=1e-5)


def test_unsupported_donor_layer_is_named():
    donor = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4, name="d"),
                              keras.layers.GaussianNoise(0.1, name="noise"),
                              keras.layers.Dense(3)])
    ok, reason = morph.can_transfer(donor, build_chain(5, [4]))
    assert not ok and "'noise' (GaussianNoise)" in reason


def test_training_continues_after_transfer():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 12)).astype("float32")
    y = keras.utils.to_categorical((x[:, 0] + x[:, 1] > 0).astype(int) + 2 * (x[:, 2] > 0), 4)
    donor = _hypermodel_model(2, 6)
    donor.fit(x, y, epochs=3, batch_size=32, verbose=0)
    target = _hypermodel_model(3, 16)
    morph.transfer(donor, target, seed=0)
    start = target.evaluate(x, y, verbose=0)[0]
    target.fit(x, y, epochs=5, batch_size=32, verbose=0)
    end = target.evaluate(x, y, verbose=0)[0]
    np.testing.assert_allclose(start, donor.evaluate(x, y, verbose=0)[0], rtol=1e-4)
    assert end < start - 0.05


def test_seed_space_smallest_to_largest():
    space = DenseHyperModel.mnist_seed()
    import keras_tuner

    def build(depth, width):
        hp = keras_tuner.HyperParameters()
        hp.Fixed("num_layers", depth)
        hp.Fixed("units", width)
        return space.build(hp)

    donor, target = build(1, 1), build(10, 10)
    report = morph.transfer(donor, target, seed=0)
    assert len(report.ops) == 19  # widen dense_0, then 9 x (deepen + widen)
    assert report.ops[:3] == ["widen dense_0 1->10", "deepen after dense_0", "widen dense_1 1->10"]
    assert report.max_deviation <= 1e-5
