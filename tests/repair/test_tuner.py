import json
import math
import re

import keras
import keras_tuner
import numpy as np
import pytest

import kt_nasrepair
from kt_nasrepair.repair.trial_run import TrialRun
from kt_nasrepair import DenseHyperModel, NeuralRepair, RepairTuner, morph
from kt_nasrepair.datasets import load_mnist

from _repair_support import SequenceOracle, build_model


def build_functional_model(hp):
    inputs = keras.Input(shape=(64,))
    x = keras.layers.Dense(hp.Int("units", 8, 24, step=8), activation="relu")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _search(tuner, data, epochs=1, **kwargs):
    (x, y), (x_val, y_val) = data
    tuner.search(x, y, epochs=epochs, validation_data=(x_val, y_val), verbose=0, **kwargs)


def _eligible_before(tuner, lineage, trial_id):
    """Trials finished before `trial_id` started, best first, split at the donor-pool cutoff.

    Returns (surely eligible, eligible with ties at the cutoff) as lists of trial ids.
    """
    started = lineage[trial_id]["started_at"]
    done = [
        t for t in tuner.oracle.trials.values()
        if t.trial_id != trial_id and t.status == "COMPLETED"
        and lineage[t.trial_id]["ended_at"] <= started
    ]
    done.sort(key=lambda t: -t.score)  # val_accuracy: larger is better
    if not done:
        return [], []
    size = max(1, math.ceil(len(done) * tuner.donor_pool))
    cutoff = done[size - 1].score
    return ([t.trial_id for t in done if t.score > cutoff],
            [t.trial_id for t in done if t.score >= cutoff])


def test_drop_in_replacement_follows_the_warm_start_policy(tmp_path, digits_data, capsys):
    tuner = RepairTuner(
        build_model,
        objective="val_accuracy",
        max_trials=6,
        directory=tmp_path,
        project_name="drop_in",
        # NOTE: the order of the first trials is quasi-random and fixed by the seed; seed 3
        # starts at the largest network (2x32), from which nothing else is reachable.
        seed=1,
    )
    _search(tuner, digits_data)
    lineage = tuner.lineage()
    trials = tuner.oracle.trials
    assert sorted(lineage) == sorted(trials)
    assert all(t.status == "COMPLETED" for t in trials.values())

    def reachable(donor_id, target_id):
        donor = build_model(trials[donor_id].hyperparameters.copy())
        target = build_model(trials[target_id].hyperparameters.copy())
        return morph.can_transfer(donor, target)[0]

    # Every trial is warm exactly when the policy allows it: checked here independently.
    for tid, record in lineage.items():
        surely, possibly = _eligible_before(tuner, lineage, tid)
        if record["donor"] is not None:
            assert record["donor"] in possibly and reachable(record["donor"], tid)
            assert record["reason"] is None and record["transfer_seconds"] >= 0
        elif not possibly:
            assert "no completed trial" in record["reason"]
        else:
            assert not any(reachable(d, tid) for d in surely), (tid, record)
            assert "no eligible donor is reachable" in record["reason"]
    warm = [tid for tid, record in lineage.items() if record["donor"] is not None]
    assert warm, lineage
    tuner.results_summary()
    out = capsys.readouterr().out
    for tid, record in lineage.items():
        if record["donor"] is not None:
            assert f"Warm start from trial {record['donor']}" in out


def test_every_reachable_trial_warm_starts_in_grid_order(tmp_path, digits_data):
    # GridSearch visits 1x8, 1x16, 1x32, 2x8, 2x16, 2x32: with every trial a possible donor
    # (donor_pool=1), each one after the first is reachable from 1x8 at least.
    oracle = keras_tuner.oracles.GridSearchOracle(objective="val_accuracy", max_trials=6)
    tuner = RepairTuner(build_model, oracle, directory=tmp_path, project_name="grid",
                        donor_pool=1.0)
    _search(tuner, digits_data)
    lineage = tuner.lineage()
    first, *rest = sorted(lineage)
    assert lineage[first]["donor"] is None
    assert all(lineage[t]["donor"] is not None for t in rest), lineage
    for tid in rest:
        hp = tuner.oracle.trials[tid].hyperparameters.values
        donor_hp = tuner.oracle.trials[lineage[tid]["donor"]].hyperparameters.values
        assert donor_hp["num_layers"] <= hp["num_layers"] and donor_hp["units"] <= hp["units"]
    # print(tuner.lineage()) reads as a table, one row per trial; the dict stays a dict.
    lines = str(lineage).splitlines()
    assert repr(lineage) == str(lineage)
    assert re.split(r"\s{2,}", lines[0]) == ["trial", "architecture", "origin",
                                              "epochs trained", "score"]
    assert len(lines) == 2 + len(lineage) and set(lines[1]) == {"-", " "}
    rows = {line.split()[0]: re.split(r"\s{2,}", line) for line in lines[2:]}
    trials = tuner.oracle.trials
    for tid, record in lineage.items():
        hp = trials[tid].hyperparameters.values
        origin = (f"warm from {record['donor']}" if record["donor"] is not None
                  else "cold: no completed trial to start from yet")
        assert rows[tid] == [tid, f"{hp['num_layers']} x {hp['units']}", origin,
                             str(record["epochs_trained"]), f"{trials[tid].score:.4g}"]
    assert json.loads(json.dumps(lineage)) == dict(lineage) and lineage == dict(lineage)


def test_functional_build_model_warm_starts(tmp_path, digits_data):
    (x, y), (x_val, y_val) = digits_data
    oracle = SequenceOracle([{"units": 8}, {"units": 24}], objective="val_accuracy")
    tuner = RepairTuner(build_functional_model, oracle, directory=tmp_path, project_name="f")
    tuner.search(x, y, epochs=1, validation_data=(x_val, y_val), verbose=0)
    record = tuner.lineage()[sorted(tuner.oracle.trials)[1]]
    assert record["donor"] == sorted(tuner.oracle.trials)[0]
    assert any("widen" in op for op in record["ops"])


def test_transfer_is_exact_at_the_moment_of_warm_start(tmp_path, digits_data):
    hypermodel = DenseHyperModel((64,), 10, num_layers=(1, 3), units=[8, 16, 32],
                                 per_layer_units=False, learning_rate=None)
    oracle = SequenceOracle([{"num_layers": 1, "units": 8}], objective="val_accuracy")
    tuner = RepairTuner(hypermodel, oracle, directory=tmp_path, project_name="exact",
                        noise_std=0.0)
    _search(tuner, digits_data, epochs=2)
    parent_trial = tuner.oracle.get_best_trials(1)[0]
    parent = tuner.load_model(parent_trial)

    hp = tuner.oracle.get_space()
    hp.values.update({"num_layers": 3, "units": 32})
    child = hypermodel.build(hp)
    trial = keras_tuner.engine.trial.Trial(hyperparameters=hp, trial_id="child")
    record = TrialRun(tuner, trial).warm_start(child).to_dict()
    assert record["donor"] == parent_trial.trial_id
    x_val = digits_data[1][0]
    np.testing.assert_allclose(
        child.predict(x_val, verbose=0), parent.predict(x_val, verbose=0), atol=1e-5
    )
    assert record["max_deviation"] <= 1e-5
    assert morph.hidden_widths(child) == [32, 32, 32]


@pytest.mark.slow
def test_warm_start_pays_on_mnist_5k(tmp_path):
    (x, y), (x_test, y_test) = load_mnist("mnist-5k")
    data = ((x[:3000], y[:3000]), (x[3000:], y[3000:]))
    hypermodel = DenseHyperModel.mnist_seed()
    parent_hp, child_hp = {"num_layers": 1, "units": 8}, {"num_layers": 2, "units": 10}
    oracle = SequenceOracle([parent_hp], objective="val_accuracy")
    tuner = RepairTuner(hypermodel, oracle, directory=tmp_path, project_name="pays")
    _search(tuner, data, epochs=5)
    donor_accuracy = tuner.oracle.get_best_trials(1)[0].score

    oracle.sequence.append(child_hp)
    oracle.max_trials = 2
    _search(tuner, data, epochs=1)
    child_id = sorted(tuner.oracle.trials)[1]
    assert tuner.lineage()[child_id]["donor"] == sorted(tuner.oracle.trials)[0]
    warm_accuracy = tuner.oracle.trials[child_id].score

    hp = keras_tuner.HyperParameters()
    hp.values.update(child_hp)
    cold = hypermodel.build(hp)
    (xt, yt), (xv, yv) = data
    cold_history = cold.fit(xt, yt, epochs=1, validation_data=(xv, yv), verbose=0)
    cold_accuracy = cold_history.history["val_accuracy"][-1]
    assert warm_accuracy >= donor_accuracy - 0.005, (warm_accuracy, donor_accuracy)
    assert warm_accuracy > cold_accuracy, (warm_accuracy, cold_accuracy)


def test_unmorphable_models_train_cold_with_reason(tmp_path, digits_data):
    def build_conv(hp):
        model = keras.Sequential([
            keras.Input(shape=(64,)),
            keras.layers.Reshape((8, 8, 1)),
            keras.layers.Conv2D(hp.Int("filters", 2, 4, step=2), 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    oracle = SequenceOracle([{"filters": 2}, {"filters": 4}], objective="val_accuracy")
    tuner = RepairTuner(build_conv, oracle, directory=tmp_path, project_name="conv")
    _search(tuner, digits_data)
    lineage = tuner.lineage()
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    second = lineage[sorted(lineage)[1]]
    assert second["donor"] is None and "Conv2D" in second["reason"]


def test_growth_on_plateau_grows_the_trial_model(tmp_path, digits_data):
    hypermodel = DenseHyperModel((64,), 10, num_layers=(1, 1), units=[4], learning_rate=None)
    oracle = SequenceOracle([{"num_layers": 1, "units_0": 4}], objective="val_accuracy")
    tuner = RepairTuner(hypermodel, oracle, directory=tmp_path, project_name="grow")
    # min_delta larger than any possible improvement: every epoch is a plateau.
    repair = NeuralRepair(grow_on_plateau=True, monitor="val_loss", patience=1, min_delta=10.0,
                          recycle_dormant=False)
    _search(tuner, digits_data, epochs=3, callbacks=[repair])
    trial_id = sorted(tuner.oracle.trials)[0]
    record = tuner.lineage()[trial_id]
    assert record["growth"], record
    assert record["growth"][0]["widths_before"] == [4]
    assert record["growth"][0]["widths_after"][0] > 4
    best = tuner.get_best_models(1)[0]
    assert morph.hidden_widths(best)[0] > 4
    trial = tuner.oracle.trials[trial_id]
    x_val, y_val = digits_data[1]
    _, accuracy = best.evaluate(x_val, y_val, verbose=0)
    assert accuracy == pytest.approx(trial.score, abs=1e-4)
    # The user's callback instance itself is untouched (KerasTuner deep-copies it per trial).
    assert repair.grower._growth_hook is None and repair.growth_requests == []


def test_reload_keeps_lineage_and_continues(tmp_path, digits_data):
    def make(max_trials):
        return RepairTuner(build_model, objective="val_accuracy", max_trials=max_trials,
                           strategy="quasi_random", seed=1, directory=tmp_path, project_name="reload")

    tuner = make(3)
    _search(tuner, digits_data)
    before = tuner.lineage()
    reloaded = make(5)
    assert reloaded.lineage() == before
    _search(reloaded, digits_data)
    after = reloaded.lineage()
    assert len(after) == 5
    assert {k: after[k] for k in before} == before


def test_corrupted_donor_checkpoint_cold_starts_with_reason(tmp_path, digits_data):
    oracle = SequenceOracle([{"num_layers": 1, "units": 8}, {"num_layers": 2, "units": 16}],
                            objective="val_accuracy")
    tuner = RepairTuner(build_model, oracle, directory=tmp_path, project_name="corrupt")
    oracle.max_trials = 1
    _search(tuner, digits_data)
    first = sorted(tuner.oracle.trials)[0]
    with open(tuner._get_checkpoint_fname(first), "wb") as f:
        f.write(b"not an h5 file")
    oracle.max_trials = 2
    _search(tuner, digits_data)
    second = sorted(tuner.oracle.trials)[1]
    record = tuner.lineage()[second]
    assert record["donor"] is None and "unreadable" in record["reason"]
    assert tuner.oracle.trials[second].status == "COMPLETED"


def test_non_finite_loss_fails_the_trial_and_never_wins(tmp_path, digits_data):
    def build_unstable(hp):
        model = build_model(hp)
        lr = 1e12 if hp.get("units") == 32 else 1e-3
        model.compile(optimizer=keras.optimizers.SGD(lr), loss="categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    oracle = SequenceOracle([{"num_layers": 1, "units": 32}, {"num_layers": 1, "units": 8}],
                            objective="val_accuracy")
    tuner = RepairTuner(build_unstable, oracle, directory=tmp_path, project_name="nan",
                        warm_start="none")
    _search(tuner, digits_data, epochs=2)
    trials = [tuner.oracle.trials[t] for t in sorted(tuner.oracle.trials)]
    assert trials[0].status == "FAILED" and "diverged" in trials[0].message
    assert trials[1].status == "COMPLETED"
    assert tuner.oracle.get_best_trials(1)[0].trial_id == trials[1].trial_id


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strategy": "grid"}, "`strategy`"),
        ({"warm_start": "always"}, "`warm_start`"),
        ({"noise_std": -1.0}, "`noise_std`"),
        ({"growth_factor": 0.5}, "`growth_factor`"),
        ({"donor_pool": 0.0}, "`donor_pool`"),
        ({"donor_pool": 1.5}, "`donor_pool`"),
        ({"oracle": "val_accuracy"}, "`oracle`"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        RepairTuner(build_model, directory=tmp_path, objective="val_accuracy", **kwargs)


def test_accepts_keras_tuner_oracles(tmp_path, digits_data):
    oracle = keras_tuner.oracles.BayesianOptimizationOracle(
        objective="val_accuracy", max_trials=3, num_initial_points=2, seed=0)
    tuner = RepairTuner(build_model, oracle, directory=tmp_path, project_name="bo")
    _search(tuner, digits_data)
    assert len(tuner.lineage()) == 3
    assert kt_nasrepair.RepairTuner is RepairTuner


def test_lineage_table_shortens_cold_reasons_and_names_hyperband_parents():
    from kt_nasrepair.repair.lineage import Lineage
    from kt_nasrepair.repair.record import TrialRecord

    long = TrialRecord("00").to_dict()
    long["reason"] = "no eligible donor is reachable: " + "trial 07: deeper; " * 10
    resumed = dict(TrialRecord("01").to_dict(), reason="continues Hyperband trial 0003 from its own weights")
    table = str(Lineage({"00": long, "01": resumed}))
    rows = table.splitlines()[2:]
    # A long reason shows its headline; the whole reason stays in the record.
    assert re.split(r"\s{2,}", rows[0]) == ["00", "-", "cold: no eligible donor is reachable",
                                             "-", "-"]
    assert re.split(r"\s{2,}", rows[1]) == ["01", "-", "continues 0003", "-", "-"]
