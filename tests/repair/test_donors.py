"""`donors.warm_start`: every failure of a candidate moves on to the next, then to a cold start."""

import types

import keras
import numpy as np
import pytest

from kt_nasrepair import morph
from kt_nasrepair.repair import donors as donors_lib


def _mlp(units, seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(6,)), keras.layers.Dense(units, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    return model


class Donors:
    """Two donor trials ("a", "b") and a `load_donor` whose failures are configurable."""

    def __init__(self, unreadable=()):
        self.models = {"a": _mlp(4, 1), "b": _mlp(3, 2)}
        self.trials = [types.SimpleNamespace(trial_id=t) for t in ("a", "b")]
        self.unreadable = set(unreadable)

    def load(self, trial, weights=True):
        if weights and trial.trial_id in self.unreadable:
            raise OSError(f"Unable to synchronously open file (trial {trial.trial_id})")
        return self.models[trial.trial_id]


PROBE = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")


def _warm_start(target, donors, **kwargs):
    return donors_lib.warm_start(target, donors.trials, load_donor=donors.load, noise_std=0.0,
                                 seed=0, probe=PROBE, **kwargs)


def _same_function(a, b):
    return np.max(np.abs(a.predict(PROBE, verbose=0) - b.predict(PROBE, verbose=0))) < 1e-5


def _raising_for(donor_model, real_transfer, after_writing=True):
    """A `morph.transfer` that raises for `donor_model`, after writing into the target."""

    def transfer(donor, target, **kwargs):
        if donor is donor_model:
            if after_writing:
                real_transfer(donor, target, **kwargs)  # the target is half-written, then:
            raise ValueError("use_bias mismatch")
        return real_transfer(donor, target, **kwargs)

    return transfer


def test_a_transfer_that_raises_moves_on_to_the_next_donor(monkeypatch):
    donors, target = Donors(), _mlp(8, 3)
    monkeypatch.setattr(morph, "transfer", _raising_for(donors.models["a"], morph.transfer))
    outcome = _warm_start(target, donors)
    assert outcome["donor"] == "b" and outcome["reason"] is None
    assert any("trial a: transfer failed (ValueError: use_bias mismatch)" in r
               for r in outcome["refused"])
    assert _same_function(target, donors.models["b"])


def test_when_every_transfer_raises_the_initial_weights_are_restored(monkeypatch):
    donors, target = Donors(), _mlp(8, 3)
    initial = [w.copy() for w in target.get_weights()]
    real = morph.transfer
    monkeypatch.setattr(morph, "transfer",
                        _raising_for(donors.models["b"], _raising_for(donors.models["a"], real)))
    outcome = _warm_start(target, donors)
    assert outcome["donor"] is None
    assert "trial a: transfer failed" in outcome["reason"]
    assert "trial b: transfer failed" in outcome["reason"]
    for before, after in zip(initial, target.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_an_unreadable_checkpoint_moves_on_to_the_next_donor():
    donors, target = Donors(unreadable={"a"}), _mlp(8, 3)
    outcome = _warm_start(target, donors)
    assert outcome["donor"] == "b"
    assert any("trial a: checkpoint missing or unreadable (OSError" in r
               for r in outcome["refused"])
    assert _same_function(target, donors.models["b"])


@pytest.mark.parametrize("field", ["max_deviation", "max_deviation_training"])
def test_a_transfer_deviating_beyond_the_tolerance_is_refused(monkeypatch, field):
    donors, target = Donors(), _mlp(8, 3)
    initial = [w.copy() for w in target.get_weights()]
    real = morph.transfer

    def deviating(donor, target_model, **kwargs):
        report = real(donor, target_model, **kwargs)
        if donor is donors.models["a"]:
            setattr(report, field, 0.37)  # what a silently changed function would measure
        return report

    monkeypatch.setattr(morph, "transfer", deviating)
    outcome = _warm_start(target, donors)
    assert outcome["donor"] == "b"
    assert any("trial a: transfer changed the function by 0.37" in r for r in outcome["refused"])
    assert _same_function(target, donors.models["b"])
    # With the tolerance above the deviation, the first candidate is accepted.
    target = _mlp(8, 3)
    assert _warm_start(target, donors, max_deviation=0.5)["donor"] == "a"
    # And when no candidate is left, the target is cold with its own initial weights.
    target = _mlp(8, 3)
    donors.trials = donors.trials[:1]
    outcome = _warm_start(target, donors)
    assert outcome["donor"] is None and "0.37" in outcome["reason"]
    for before, after in zip(initial, target.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_the_default_tolerance_follows_morph():
    assert donors_lib.MAX_DEVIATION == getattr(morph, "DEFAULT_MAX_DEVIATION", 1e-3)
    assert 0 < donors_lib.MAX_DEVIATION < 0.01


def test_a_can_transfer_that_raises_is_a_refusal(monkeypatch):
    donors, target = Donors(), _mlp(8, 3)

    def can_transfer(donor, target_model):
        if donor is donors.models["a"]:
            raise TypeError("unexpected layer config")
        return True, None

    monkeypatch.setattr(morph, "can_transfer", can_transfer)
    outcome = _warm_start(target, donors)
    assert outcome["donor"] == "b"
    assert any("trial a: not analysable (TypeError" in r for r in outcome["refused"])


def test_transfer_seed_differs_per_execution():
    seeds = {donors_lib.transfer_seed(7, "03", e) for e in range(4)}
    assert len(seeds) == 4
    assert donors_lib.transfer_seed(7, "03", 1) == donors_lib.transfer_seed(7, "03", 1)


def test_a_donor_that_would_hand_on_its_bottleneck_is_refused_with_its_reason():
    # The README main job's case: 1 x 1 (score 0.22) grown into 1 x 10 scored 0.58, while
    # cold trials of that size scored 0.70 (docs/performance.md, "Donor choice").
    target = _mlp(10, 3)
    donors = Donors()
    donors.models = {"a": _mlp(1, 1), "b": _mlp(3, 2)}
    outcome = _warm_start(target, donors)
    assert outcome["donor"] == "b"  # 3 -> 10 widens under 4x: accepted
    assert len(outcome["refused"]) == 1
    assert outcome["refused"][0].startswith("trial a: bottleneck: its narrowest hidden layer has "
                                            "1 unit(s), under 1/4 of the target's narrowest (10)")


def test_the_bottleneck_rule_compares_the_narrowest_layers():
    assert donors_lib.bottleneck(_mlp(1, 1), _mlp(4, 2)) is None  # 4x: the limit is accepted
    assert "narrowest (5)" in donors_lib.bottleneck(_mlp(1, 1), _mlp(5, 2))
    assert donors_lib.bottleneck(_mlp(2, 1), _mlp(5, 2), max_ratio=2) is not None
