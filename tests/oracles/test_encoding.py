"""Hyperparameter values <-> unit cube."""

import keras_tuner
import numpy as np

from kt_nasrepair.oracles._encoding import UnitCubeEncoder


def mixed_space():
    hps = keras_tuner.HyperParameters()
    hps.Int("units", 8, 64, step=8)
    hps.Float("lr", 1e-4, 1e-1, sampling="log")
    hps.Choice("activation", ["relu", "tanh", "gelu"])
    hps.Choice("batch", [16, 32, 64])
    hps.Boolean("bn")
    hps.Fixed("epochs", 3)
    return hps


def test_feature_layout_one_hot_for_unordered_choice():
    encoder = UnitCubeEncoder(mixed_space())
    assert encoder.num_probs == 5  # Fixed takes no coordinate
    assert encoder.num_features == 1 + 1 + 3 + 1 + 1
    features = encoder.encode(
        {"units": 24, "lr": 1e-2, "activation": "tanh", "batch": 64, "bn": True, "epochs": 3}
    )
    np.testing.assert_allclose(features[2:5], [0.0, 1.0, 0.0])
    # log sampling: 1e-2 is 2/3 of the way from 1e-4 to 1e-1 in log space.
    np.testing.assert_allclose(features[1], 2 / 3, rtol=1e-12)
    np.testing.assert_allclose(features[0], (2 + 0.5) / 8)  # bucket centre of 24
    np.testing.assert_allclose(features[6], 0.75)  # Boolean True


def test_decode_inverts_encode():
    encoder = UnitCubeEncoder(mixed_space())
    values = {"units": 40, "lr": 3e-3, "activation": "gelu", "batch": 16, "bn": False, "epochs": 3}
    decoded = encoder.decode(encoder.encode(values))
    assert {k: v for k, v in decoded.items() if k != "lr"} == {
        k: v for k, v in values.items() if k != "lr"
    }
    np.testing.assert_allclose(decoded["lr"], 3e-3, rtol=1e-9)


def test_probs_to_features_snaps_discrete_values():
    encoder = UnitCubeEncoder(mixed_space())
    rng = np.random.default_rng(0)
    probs = rng.uniform(size=(50, 5))
    batch = encoder.probs_to_features(probs)
    one_by_one = np.array([encoder.encode(encoder.probs_to_values(p)) for p in probs])
    np.testing.assert_allclose(batch, one_by_one, atol=1e-12)


def test_inactive_conditional_encoded_at_default_and_not_decoded():
    hps = keras_tuner.HyperParameters()
    hps.Choice("model", ["linear", "mlp"])
    with hps.conditional_scope("model", ["mlp"]):
        hps.Int("units", 1, 20, default=5)
    encoder = UnitCubeEncoder(hps)
    assert encoder.has_conditions
    features = encoder.encode({"model": "linear"})
    np.testing.assert_allclose(features[2], hps.space[1].value_to_prob(5))
    assert encoder.decode(features) == {"model": "linear"}
    assert encoder.probs_to_values([0.9, 0.0]) == {"model": "mlp", "units": 1}


def test_enumerate_finite_space_with_conditions():
    hps = keras_tuner.HyperParameters()
    hps.Choice("model", ["linear", "mlp"])
    with hps.conditional_scope("model", ["mlp"]):
        hps.Int("units", 1, 4)
    configs = UnitCubeEncoder(hps).enumerate(limit=100)
    assert len(configs) == 1 + 4
    assert UnitCubeEncoder(hps).enumerate(limit=7) is None
    hps.Float("lr", 0.0, 1.0)
    assert UnitCubeEncoder(hps).enumerate(limit=100) is None


def test_reverse_log_values_stay_in_range_at_the_edge_of_the_cube():
    # keras-tuner 1.4.8: Int(19, 20, sampling="reverse_log").prob_to_value(0.0) is 18.
    import keras_tuner

    from kt_nasrepair.oracles._encoding import prob_to_value

    hps = keras_tuner.HyperParameters()
    hps.Int("a", 19, 20, sampling="reverse_log")
    hps.Float("b", 0.5, 2.0, sampling="reverse_log")
    for hp in hps.space:
        for prob in (0.0, 1e-12, 0.5, 1.0 - 1e-12):
            value = prob_to_value(hp, prob)
            assert hp.min_value <= value <= hp.max_value, (hp, prob, value)
