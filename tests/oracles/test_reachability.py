"""`dense_reachable` agrees with `morph.can_transfer` on models DenseHyperModel builds."""

import functools

import keras_tuner
import numpy as np
import pytest

from kt_nasrepair import DenseHyperModel
from kt_nasrepair import morph
from kt_nasrepair.oracles._reachability import dense_reachable
from kt_nasrepair.oracles._reachability import widths_reachable

# Small, varied spaces: per-layer and shared widths, an activation that allows inserted
# identity layers (relu), one that does not (tanh), a tuned activation, dropout layers
# and a list of widths.
SPACES = {
    "per_layer_relu": dict(num_layers=(1, 4), units=(1, 4, 1)),
    "shared_relu": dict(num_layers=(1, 4), units=(1, 4, 1), per_layer_units=False),
    "per_layer_tanh": dict(num_layers=(1, 3), units=(1, 3, 1), activation="tanh"),
    "tuned_activation": dict(num_layers=(1, 3), units=[2, 3, 5], activation=["relu", "tanh", "linear"],
                             dropout=(0.0, 0.5, 0.25)),
}


def hypermodel(space):
    return DenseHyperModel(input_shape=(3,), num_classes=2, learning_rate=None, **SPACES[space])


@functools.lru_cache(maxsize=None)
def space_of(space):
    hps = keras_tuner.HyperParameters()
    hypermodel(space).build(hps)
    return hps


@functools.lru_cache(maxsize=None)
def built(space, key):
    hps = space_of(space).copy()
    hps.values = dict(key)
    return hypermodel(space).build(hps)


def random_values(space, rng):
    model = hypermodel(space)
    low, high = model.num_layers
    depth = int(rng.integers(low, high + 1))
    grid = model.units if isinstance(model.units, list) else list(
        range(model.units[0], model.units[1] + 1, model.units[2]))
    values = {"num_layers": depth}
    if model.per_layer_units:
        for i in range(depth):
            values[f"units_{i}"] = int(rng.choice(grid))
    else:
        values["units"] = int(rng.choice(grid))
    if isinstance(model.activation, list):
        # Mostly the same activation, so that the interesting cases are frequent.
        values["activation"] = model.activation[0] if rng.uniform() < 0.7 else str(
            rng.choice(model.activation))
    if model.dropout is not None:
        values["dropout"] = float(rng.choice([0.0, 0.25, 0.5]))
    return values


def activation_of(space):
    activation = hypermodel(space).activation
    return activation if isinstance(activation, str) else "relu"


@pytest.mark.parametrize("space", sorted(SPACES))
def test_agrees_with_can_transfer_on_random_pairs(space):
    rng = np.random.default_rng(sorted(SPACES).index(space))
    per_layer = hypermodel(space).per_layer_units
    outcomes = []
    for _ in range(40):
        donor, target = random_values(space, rng), random_values(space, rng)
        if rng.uniform() < 0.5:
            # A grown target (reachable more often): widths up, maybe one layer more.
            target = dict(donor)
            if "num_layers" in target and target["num_layers"] < hypermodel(space).num_layers[1] \
                    and rng.uniform() < 0.5:
                target["num_layers"] += 1
                if per_layer:
                    target[f"units_{donor['num_layers']}"] = donor[f"units_{donor['num_layers'] - 1}"]
        expected, reason = morph.can_transfer(
            built(space, tuple(sorted(donor.items()))), built(space, tuple(sorted(target.items()))))
        got = dense_reachable(donor, target, per_layer_units=per_layer, activation=activation_of(space))
        assert got == expected, (donor, target, reason)
        outcomes.append(expected)
    # Both answers occur, so the comparison tested something.
    assert 5 <= sum(outcomes) <= 35


@pytest.mark.parametrize(
    "donor, target, insertable, expected",
    [
        ([2], [2, 2], True, True),
        ([2], [2, 1], True, False),  # an identity layer narrower than its input
        ([2, 1], [2, 1, 1], True, True),
        ([2, 1], [2, 2, 1], True, True),  # identity after the first layer
        ([3, 1], [3, 2, 1], True, True),
        ([3, 1], [2, 3, 1], True, False),  # first layer must map onto the first
        ([2], [2, 2], False, False),  # tanh: no identity layers
        ([2, 2], [3, 2], False, True),
        ([2, 2], [2], True, False),  # Net2Net cannot remove layers
    ],
)
def test_width_rules(donor, target, insertable, expected):
    assert widths_reachable(donor, target, insertable) is expected


def test_missing_widths_raise_naming_the_argument():
    with pytest.raises(ValueError, match="target_values.*units_i.*Received: target_values="):
        dense_reachable({"num_layers": 1, "units_0": 4}, {"num_layers": 2, "units_0": 4})
