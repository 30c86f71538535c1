"""`with_repair(tuner_class)`: KerasTuner's own tuners, their search kept, trials warm-started."""

import keras_tuner
import pytest

import kt_nasrepair
from kt_nasrepair import RepairTuner, morph, with_repair

from _repair_support import build_model


def _search(tuner, data, **kwargs):
    (x, y), (x_val, y_val) = data
    tuner.search(x, y, validation_data=(x_val, y_val), verbose=0, **kwargs)


def test_hyperband_keeps_its_budget_and_reloads_continued_trials(tmp_path, digits_data):
    tuner = with_repair(keras_tuner.Hyperband)(
        build_model, objective="val_accuracy", max_epochs=3, factor=3, seed=2,
        donor_pool=1.0, directory=tmp_path, project_name="hb",
    )
    assert isinstance(tuner, keras_tuner.Hyperband) and type(tuner).__name__ == "HyperbandWithRepair"
    _search(tuner, digits_data)
    trials = tuner.oracle.trials
    lineage = tuner.lineage()
    assert sorted(lineage) == sorted(trials) and len(trials) >= 4
    assert all(t.status == "COMPLETED" for t in trials.values())
    continued = [t for t in trials.values() if t.hyperparameters.values.get("tuner/trial_id")]
    fresh = [t for t in trials.values() if not t.hyperparameters.values.get("tuner/trial_id")]
    assert continued and fresh
    for trial in continued:
        values, record = trial.hyperparameters.values, lineage[trial.trial_id]
        assert record["donor"] is None
        assert f"continues Hyperband trial {values['tuner/trial_id']}" in record["reason"]
        # Hyperband's own budget: only the extra epochs are trained.
        assert record["epochs_trained"] == values["tuner/epochs"] - values["tuner/initial_epoch"]
    warm = [t for t in fresh if lineage[t.trial_id]["donor"] is not None]
    assert warm, {t.trial_id: lineage[t.trial_id]["reason"] for t in fresh}
    for trial in warm:
        donor = build_model(trials[lineage[trial.trial_id]["donor"]].hyperparameters.copy())
        target = build_model(trial.hyperparameters.copy())
        assert morph.can_transfer(donor, target)[0]
        assert lineage[trial.trial_id]["epochs_trained"] == trial.hyperparameters.values["tuner/epochs"]


def test_random_search_with_repair_keeps_its_oracle(tmp_path, digits_data):
    Tuner = kt_nasrepair.with_repair(keras_tuner.RandomSearch)
    tuner = Tuner(build_model, objective="val_accuracy", max_trials=4, seed=1,
                  warm_epochs=1, donor_pool=1.0, directory=tmp_path, project_name="rs")
    assert type(tuner.oracle) is keras_tuner.oracles.RandomSearchOracle
    assert tuner.warm_epochs == 1 and tuner.repair_seed() == 1
    _search(tuner, digits_data, epochs=2)
    lineage = tuner.lineage()
    assert sorted(lineage) == sorted(tuner.oracle.trials)
    for record in lineage.values():
        if record["donor"] is None:
            assert record["epochs_trained"] == 2 and record["promoted"] is None
        else:
            assert record["epochs_trained"] == (2 if record["promoted"] else 1)


def test_with_repair_rejects_what_is_not_a_tuner_class():
    with pytest.raises(TypeError, match="tuner_class"):
        with_repair(keras_tuner.oracles.RandomSearchOracle)
    with pytest.raises(TypeError, match="tuner_class"):
        with_repair("RandomSearch")
    assert with_repair(RepairTuner) is RepairTuner


def test_with_repair_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="warm_epochs"):
        with_repair(keras_tuner.RandomSearch)(build_model, objective="val_accuracy",
                                              max_trials=2, warm_epochs=0, directory=tmp_path)


def test_repair_tuner_refuses_a_hyperband_oracle(tmp_path):
    oracle = keras_tuner.oracles.HyperbandOracle(objective="val_accuracy", max_epochs=3)
    with pytest.raises(ValueError, match=r"with_repair\(keras_tuner.Hyperband\)"):
        RepairTuner(build_model, oracle=oracle, directory=tmp_path)


@pytest.mark.parametrize(
    "kwargs",
    [{"seed": 1}, {"objective": "val_loss"}, {"max_trials": 3},
     {"hyperparameters": keras_tuner.HyperParameters()}, {"tune_new_entries": False},
     {"allow_new_entries": False}, {"max_retries_per_trial": 1},
     {"max_consecutive_failed_trials": 5}],
)
def test_oracle_arguments_with_an_oracle_are_refused(tmp_path, kwargs):
    oracle = keras_tuner.oracles.RandomSearchOracle(objective="val_accuracy", max_trials=2)
    (name,) = kwargs
    with pytest.raises(ValueError, match=name):
        RepairTuner(build_model, oracle=oracle, directory=tmp_path, **kwargs)


@pytest.mark.parametrize(
    "kwargs, name",
    [({"noise_std": True}, "noise_std"), ({"noise_std": float("inf")}, "noise_std"),
     ({"growth_factor": True}, "growth_factor"), ({"growth_factor": float("inf")}, "growth_factor"),
     ({"donor_pool": float("nan")}, "donor_pool")],
)
def test_booleans_and_infinities_are_refused(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        RepairTuner(build_model, objective="val_accuracy", directory=tmp_path, **kwargs)


def test_quasi_random_strategy_builds_its_oracle(tmp_path):
    tuner = RepairTuner(build_model, objective="val_accuracy", strategy="quasi_random",
                        directory=tmp_path)
    assert type(tuner.oracle) is kt_nasrepair.oracles.QuasiRandomSearchOracle


def test_hyperband_with_repair_refuses_max_trials_naming_what_to_use(tmp_path):
    Tuner = kt_nasrepair.with_repair(keras_tuner.Hyperband)
    with pytest.raises(ValueError, match=r"`max_trials` is not an argument of Hyperband.*"
                                         r"`max_epochs`.*`hyperband_iterations`.*"
                                         r"Received: max_trials=10"):
        Tuner(lambda hp: None, objective="val_accuracy", max_trials=10, directory=tmp_path)
    # The same class without it constructs as usual; other tuners keep their max_trials.
    Tuner(lambda hp: None, objective="val_accuracy", max_epochs=3, directory=tmp_path)
    kt_nasrepair.with_repair(keras_tuner.RandomSearch)(
        lambda hp: None, objective="val_accuracy", max_trials=10, directory=tmp_path)
