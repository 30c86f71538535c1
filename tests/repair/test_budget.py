"""Budgeted warm trials: `warm_epochs` short runs, promotion, one continuous history."""

import keras
import keras_tuner
import numpy as np
import pytest

from kt_nasrepair import RepairTuner
from kt_nasrepair.repair import budget as budget_lib

from _repair_support import SequenceOracle, build_model

MAX = keras_tuner.Objective("val_accuracy", "max")
MIN = keras_tuner.Objective("val_loss", "min")


@pytest.mark.parametrize(
    "warm_epochs, epochs, expected",
    [(None, 9, None), ("auto", 9, 3), ("auto", 10, 4), ("auto", 2, 1), (2, 5, 2),
     (5, 5, None), (7, 5, None), ("auto", 1, None)],
)
def test_resolve_warm_epochs(warm_epochs, epochs, expected):
    assert budget_lib.resolve_warm_epochs(warm_epochs, epochs) == expected


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "third", [2]])
def test_bad_warm_epochs_named(bad):
    with pytest.raises(ValueError, match="warm_epochs"):
        budget_lib.check_warm_epochs(bad)


def test_best_value_follows_the_direction_and_skips_non_finite():
    logs = [{"val_accuracy": 0.5, "val_loss": 1.0}, {"val_accuracy": float("nan"),
            "val_loss": float("nan")}, {"val_accuracy": 0.7, "val_loss": 0.8}, {}]
    assert budget_lib.best_value(MAX, logs) == 0.7
    assert budget_lib.best_value(MIN, logs) == 0.8
    assert budget_lib.best_value(MAX, [{}, {"loss": 1.0}]) is None


@pytest.mark.parametrize(
    "objective, value, donor, promoted",
    [(MAX, 0.9, 0.8, True), (MAX, 0.8, 0.8, False), (MAX, 0.7, 0.8, False),
     (MIN, 0.3, 0.4, True), (MIN, 0.5, 0.4, False), (MAX, None, 0.8, False),
     (MAX, 0.1, None, True), (MAX, 0.1, float("nan"), True)],
)
def test_should_promote_only_a_child_that_beats_its_donor(objective, value, donor, promoted):
    assert budget_lib.should_promote(objective, value, donor) is promoted


class CountingHyperModel(keras_tuner.HyperModel):
    """build_model plus a log of every fit call's epoch range (to prove no retraining)."""

    def __init__(self):
        super().__init__()
        self.fits = []
        self.histories = []

    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        self.fits.append((kwargs.get("initial_epoch", 0), kwargs["epochs"]))
        history = model.fit(*args, **kwargs)
        self.histories.append(history)
        return history


def _two_trial_search(tmp_path, data, monkeypatch, promote):
    # A 1x8 donor, then a 2x16 child reachable from it (deepen + widen).
    monkeypatch.setattr(budget_lib, "should_promote", lambda *a: promote)
    hypermodel = CountingHyperModel()
    oracle = SequenceOracle([{"num_layers": 1, "units": 8}, {"num_layers": 2, "units": 16}],
                            objective="val_accuracy", seed=0)
    tuner = RepairTuner(hypermodel, oracle=oracle, warm_epochs=1, directory=tmp_path,
                        project_name=f"budget_{promote}")
    (x, y), (x_val, y_val) = data
    tuner.search(x, y, epochs=3, validation_data=(x_val, y_val), verbose=0)
    return tuner, hypermodel


def test_warm_trial_that_does_not_beat_its_donor_stops_at_warm_epochs(
        tmp_path, digits_data, monkeypatch):
    tuner, hypermodel = _two_trial_search(tmp_path, digits_data, monkeypatch, promote=False)
    lineage = tuner.lineage()
    donor, child = sorted(lineage)
    assert lineage[donor]["donor"] is None and lineage[donor]["epochs_trained"] == 3
    assert lineage[donor]["promoted"] is None and lineage[donor]["warm_epochs"] is None
    assert lineage[child]["donor"] == donor
    assert lineage[child]["warm_epochs"] == 1 and lineage[child]["promoted"] is False
    assert lineage[child]["epochs_trained"] == 1 and lineage[child]["donor_epochs"] == 3
    assert hypermodel.fits == [(0, 3), (0, 1)]
    trial = tuner.oracle.trials[child]
    assert trial.status == "COMPLETED"
    assert len(trial.metrics.get_history("val_accuracy")) == 1


def test_promoted_warm_trial_is_one_continuous_run(tmp_path, digits_data, monkeypatch):
    tuner, hypermodel = _two_trial_search(tmp_path, digits_data, monkeypatch, promote=True)
    lineage = tuner.lineage()
    donor, child = sorted(lineage)
    record = lineage[child]
    assert record["donor"] == donor and record["promoted"] is True
    assert record["epochs_trained"] == 3
    # Continued with initial_epoch, never retrained from epoch 0.
    assert hypermodel.fits == [(0, 3), (0, 1), (1, 3)]
    segments = hypermodel.histories[1:]
    assert [h.epoch for h in segments] == [[0], [1, 2]]
    values = [v for h in segments for v in h.history["val_accuracy"]]
    # KerasTuner scored the merged run: its best epoch over all three, at its own step.
    trial = tuner.oracle.trials[child]
    (observation,) = trial.metrics.get_history("val_accuracy")
    assert trial.score == pytest.approx(max(values))
    assert observation.step == int(np.argmax(values))
    # The checkpoint is that best epoch: load_model scores the trial's score.
    (_, _), (x_val, y_val) = digits_data
    model = tuner.load_model(trial)
    accuracy = float(np.mean(np.argmax(model.predict(x_val, verbose=0), 1) == np.argmax(y_val, 1)))
    assert accuracy == pytest.approx(trial.score, abs=1e-6)


def test_promotion_follows_the_rule_in_a_real_search(tmp_path, digits_data):
    oracle = SequenceOracle(
        [{"num_layers": 1, "units": 8}, {"num_layers": 1, "units": 16},
         {"num_layers": 2, "units": 16}, {"num_layers": 2, "units": 32}],
        objective="val_accuracy", seed=0)
    tuner = RepairTuner(build_model, oracle=oracle, warm_epochs=1, donor_pool=1.0,
                        directory=tmp_path, project_name="rule")
    (x, y), (x_val, y_val) = digits_data
    tuner.search(x, y, epochs=3, validation_data=(x_val, y_val), verbose=0)
    trials = tuner.oracle.trials
    warm = [(tid, r) for tid, r in tuner.lineage().items() if r["donor"] is not None]
    assert warm
    for tid, record in warm:
        beats = bool(record["value_at_warm_epochs"] > trials[record["donor"]].score)
        assert record["promoted"] is beats
        assert record["epochs_trained"] == (3 if beats else 1)
        if not beats:  # scored on what it reached in its short budget
            assert trials[tid].score == pytest.approx(record["value_at_warm_epochs"])
        else:
            assert trials[tid].score >= record["value_at_warm_epochs"]
