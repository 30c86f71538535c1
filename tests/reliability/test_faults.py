"""Faults inside a search: lost donors, raising trials. The search always goes on."""

import os

import keras
import keras_tuner
import numpy as np
import pytest

from kt_nasrepair import RepairTuner, oracles


class SequenceOracle(keras_tuner.Oracle):
    """Proposes a fixed list of values, in order (tests only)."""

    def __init__(self, sequence, **kwargs):
        super().__init__(max_trials=len(sequence), max_consecutive_failed_trials=5, **kwargs)
        self.sequence = list(sequence)

    def populate_space(self, trial_id):
        index = len(self.trials)
        if index >= len(self.sequence):
            return {"status": "STOPPED", "values": None}
        return {"status": "RUNNING", "values": dict(self.sequence[index])}


class FragileHyperModel(keras_tuner.HyperModel):
    """A one-hidden-layer net; `units == 16` fails in build, `units == 24` in fit."""

    def build(self, hp):
        units = hp.Int("units", 8, 32, step=8)
        if units == 16:
            raise ValueError("build refused 16 units")
        model = keras.Sequential([keras.Input(shape=(64,)),
                                  keras.layers.Dense(units, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, **kwargs):
        if hp.get("units") == 24:
            raise RuntimeError("fit crashed at 24 units")
        return model.fit(*args, **kwargs)


def _search(tuner, data, epochs=1):
    (x, y), (x_val, y_val) = data
    tuner.search(x, y, epochs=epochs, validation_data=(x_val, y_val), verbose=0)


def test_missing_donor_checkpoint_cold_starts_with_reason(tmp_path, digits_data):
    oracle = SequenceOracle([{"units": 8}, {"units": 32}], objective="val_accuracy")
    tuner = RepairTuner(FragileHyperModel(), oracle, directory=tmp_path, project_name="m")
    oracle.max_trials = 1
    _search(tuner, digits_data)
    first = sorted(tuner.oracle.trials)[0]
    os.remove(tuner._get_checkpoint_fname(first))
    oracle.max_trials = 2
    _search(tuner, digits_data)
    second = sorted(tuner.oracle.trials)[1]
    record = tuner.lineage()[second]
    assert record["donor"] is None
    assert "missing or unreadable" in record["reason"] and first in record["reason"]
    assert tuner.oracle.trials[second].status == "COMPLETED"


def test_raising_build_or_fit_fails_the_trial_and_is_never_a_donor(tmp_path, digits_data):
    oracle = SequenceOracle([{"units": 16}, {"units": 24}, {"units": 8}, {"units": 32}],
                            objective="val_accuracy")
    tuner = RepairTuner(FragileHyperModel(), oracle, directory=tmp_path, project_name="f",
                        donor_pool=1.0)
    _search(tuner, digits_data)
    trials = [tuner.oracle.trials[t] for t in sorted(tuner.oracle.trials)]
    assert [t.status for t in trials] == ["FAILED", "FAILED", "COMPLETED", "COMPLETED"]
    assert "build refused 16 units" in trials[0].message
    assert "fit crashed at 24 units" in trials[1].message
    lineage = tuner.lineage()
    assert "fit crashed at 24 units" in lineage[trials[1].trial_id]["error"]
    # 32 units is reachable from 16, 24 and 8: only the completed one may be its donor.
    assert lineage[trials[3].trial_id]["donor"] == trials[2].trial_id
    assert tuner.oracle.get_best_trials(1)[0].status == "COMPLETED"


def test_failed_trials_are_not_surrogate_data(tmp_path):
    hp = keras_tuner.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = oracles.EntropySearchOracle(objective="loss", max_trials=10, num_initial_points=3,
                                         seed=0, hyperparameters=hp)
    oracle._set_project_dir(str(tmp_path), "gp")
    seen = []
    fit_surrogate = oracle.fit_surrogate

    def spy(x, y, rng):
        seen.append((np.array(x), np.array(y)))
        return fit_surrogate(x, y, rng)

    oracle.fit_surrogate = spy
    completed = 0
    for i in range(6):
        trial = oracle.create_trial("tuner0")
        if i % 2:
            trial.status = "FAILED"
            trial.message = "boom"
        else:
            oracle.update_trial(trial.trial_id, {"loss": (trial.hyperparameters.get("x") - 0.3) ** 2})
            trial.status = "COMPLETED"
            completed += 1
        oracle.end_trial(trial)
    oracle.create_trial("tuner0")
    assert seen, "the surrogate was never fitted"
    x, y = seen[-1]
    assert len(x) == len(y) == completed == 3
    assert np.all(np.isfinite(y))
