"""The KerasTuner Oracle contract, one test per behaviour, for every oracle."""

import json
import math
import threading

import keras_tuner
import numpy as np
import pytest

from kt_nasrepair.oracles._encoding import values_hash


def quadratic(hp):
    x = hp.Float("x", 0.0, 1.0)
    y = hp.Float("y", 0.0, 1.0)
    return (x - 0.3) ** 2 + (y - 0.6) ** 2


def xy_space():
    hps = keras_tuner.HyperParameters()
    hps.Float("x", 0.0, 1.0)
    hps.Float("y", 0.0, 1.0)
    return hps


def tolerance(make_oracle):
    # 14 Sobol points in 2-D come within ~0.05 of the optimum; MES much closer.
    return {"quasi_random": 0.06}.get(make_oracle.kind, 0.01)


def all_values(oracle):
    return [oracle.trials[i].hyperparameters.values for i in oracle.start_order]


def assert_no_repeats(oracle):
    hashes = [values_hash(v) for v in all_values(oracle)]
    assert len(hashes) == len(set(hashes))


def test_min_direction(make_oracle, function_tuner):
    oracle = make_oracle(objective="loss", max_trials=14, seed=3, hyperparameters=xy_space())
    tuner = function_tuner(oracle, lambda hp: {"loss": quadratic(hp)})
    tuner.search(verbose=0)
    best = oracle.get_best_trials(1)[0]
    assert best.score == min(t.score for t in oracle.trials.values())
    assert best.score < tolerance(make_oracle)


def test_max_direction(make_oracle, function_tuner):
    oracle = make_oracle(
        objective=keras_tuner.Objective("acc", "max"), max_trials=14, seed=3,
        hyperparameters=xy_space(),
    )
    tuner = function_tuner(oracle, lambda hp: {"acc": -quadratic(hp)})
    tuner.search(verbose=0)
    best = oracle.get_best_trials(1)[0]
    assert best.score == max(t.score for t in oracle.trials.values())
    assert best.score > -tolerance(make_oracle)


def test_multi_objective(make_oracle, drive_oracle):
    objective = [keras_tuner.Objective("a", "min"), keras_tuner.Objective("b", "max")]
    oracle = make_oracle(objective=objective, max_trials=14, seed=3, hyperparameters=xy_space())

    def metrics(v):
        d = (v["x"] - 0.3) ** 2 + (v["y"] - 0.6) ** 2
        return {"a": d, "b": 1.0 - d}

    drive_oracle(oracle, metrics, 14)
    for trial in oracle.trials.values():
        a = trial.metrics.get_best_value("a")
        b = trial.metrics.get_best_value("b")
        np.testing.assert_allclose(trial.score, a - b, rtol=1e-12)
    best = oracle.get_best_trials(1)[0]
    assert best.metrics.get_best_value("a") < tolerance(make_oracle)


def test_growing_space(make_oracle, function_tuner):
    oracle = make_oracle(objective="loss", max_trials=12, seed=5)

    def function(hp):
        loss = (hp.Float("x", 0.0, 1.0) - 0.3) ** 2
        if len(oracle.trials) > 4:  # a new hyperparameter after a few trials
            loss += (hp.Int("units", 1, 10) - 7) ** 2 / 100.0
        return {"loss": loss}

    function_tuner(oracle, function).search(verbose=0)
    assert len(oracle.trials) == 12
    assert "units" in oracle.hyperparameters.values
    late = [v for v in all_values(oracle)[6:]]
    assert all(1 <= v["units"] <= 10 and 0 <= v["x"] <= 1 for v in late)
    assert_no_repeats(oracle)


def test_step_and_log_sampling_respected(make_oracle, function_tuner):
    hps = keras_tuner.HyperParameters()
    hps.Int("units", 8, 128, step=8)
    hps.Float("lr", 1e-4, 1e-1, sampling="log")
    hps.Float("dropout", 0.0, 0.5, step=0.1)
    hps.Int("width", 2, 64, step=2, sampling="log")
    hps.Choice("activation", ["relu", "tanh", "gelu"])
    hps.Boolean("batch_norm")
    oracle = make_oracle(objective="loss", max_trials=16, seed=2, hyperparameters=hps)

    def function(hp):
        return {"loss": (math.log10(hp.get("lr")) + 3) ** 2 + hp.get("units") / 1000}

    function_tuner(oracle, function).search(verbose=0)
    values = all_values(oracle)
    assert len(values) == 16
    for v in values:
        assert v["units"] in range(8, 129, 8)
        assert 1e-4 <= v["lr"] <= 1e-1
        assert min(abs(v["dropout"] - 0.1 * k) for k in range(6)) < 1e-9
        assert v["width"] in (2, 4, 8, 16, 32, 64)
        assert v["activation"] in ("relu", "tanh", "gelu")
        assert isinstance(v["batch_norm"], bool)
    # Log sampling: under linear sampling only ~10% of lr would be < 1e-2.
    assert np.mean([v["lr"] < 1e-2 for v in values]) >= 0.5


def test_conditional_hyperparameters(make_oracle, function_tuner):
    oracle = make_oracle(objective="loss", max_trials=12, seed=4)

    def function(hp):
        model = hp.Choice("model", ["linear", "mlp"])
        loss = 1.0
        with hp.conditional_scope("model", ["mlp"]):
            if model == "mlp":
                loss = (hp.Int("units", 1, 20) - 12) ** 2 / 100.0
        return {"loss": loss}

    function_tuner(oracle, function).search(verbose=0)
    for v in all_values(oracle):
        assert ("units" in v) == (v["model"] == "mlp")
    assert_no_repeats(oracle)


def test_save_reload_continues_without_repeats_and_same_stream(make_oracle, function_tuner):
    def run(name, max_trials, overwrite):
        oracle = make_oracle(objective="loss", max_trials=max_trials, seed=11, hyperparameters=xy_space())
        tuner = function_tuner(oracle, lambda hp: {"loss": quadratic(hp)}, name=name, overwrite=overwrite)
        tuner.search(verbose=0)
        return oracle

    straight = run("straight", 8, True)
    run("resumed", 5, True)
    resumed = run("resumed", 8, False)
    assert len(resumed.trials) == 8
    assert_no_repeats(resumed)
    assert all_values(resumed) == all_values(straight)


def test_state_round_trips_through_json(make_oracle, drive_oracle):
    oracle = make_oracle(objective="loss", max_trials=10, seed=1, hyperparameters=xy_space())
    drive_oracle(oracle, lambda v: {"loss": v["x"] + v["y"]}, 5)
    state = json.loads(json.dumps(oracle.get_state()))
    other = make_oracle(objective="loss", max_trials=10, seed=99, hyperparameters=xy_space())
    other.trials = oracle.trials
    other.set_state(state)
    assert json.loads(json.dumps(other.get_state())) == state


def test_saved_state_does_not_depend_on_the_hash_seed(make_oracle, drive_oracle):
    # A set written in iteration order differs between processes (PYTHONHASHSEED).
    oracle = make_oracle(objective="loss", max_trials=10, seed=1, hyperparameters=xy_space())
    drive_oracle(oracle, lambda v: {"loss": v["x"] + v["y"]}, 5)
    tried = oracle.get_state()["tried_so_far"]
    assert len(tried) == 5
    assert tried == sorted(tried)
    oracle._tried_so_far = set(reversed(tried))
    assert oracle.get_state()["tried_so_far"] == tried


def test_settings_not_replaced_on_reload(make_oracle, drive_oracle):
    # KerasTuner issue #803: a resumed search must use the user's new settings.
    setting, old, new = {"entropy": ("num_max_samples", 4, 7)}.get(
        make_oracle.kind, ("max_trials", 10, 12))
    oracle = make_oracle(objective="loss", seed=1, hyperparameters=xy_space(), **{setting: old})
    drive_oracle(oracle, lambda v: {"loss": v["x"]}, 3)
    state = json.loads(json.dumps(oracle.get_state()))
    other = make_oracle(objective="loss", seed=1, hyperparameters=xy_space(), **{setting: new})
    other.trials = oracle.trials
    other.set_state(state)
    assert getattr(other, setting) == new


def test_exhausted_space_stops(make_oracle, function_tuner):
    hps = keras_tuner.HyperParameters()
    hps.Int("a", 1, 3)
    hps.Boolean("b")
    oracle = make_oracle(objective="loss", max_trials=20, seed=1, hyperparameters=hps)
    function_tuner(oracle, lambda hp: {"loss": hp.get("a") + hp.get("b")}).search(verbose=0)
    assert len(oracle.trials) == 6
    assert_no_repeats(oracle)
    assert oracle.create_trial("another").status == "STOPPED"


def test_failed_trials_skipped(make_oracle, function_tuner):
    oracle = make_oracle(
        objective="loss", max_trials=12, seed=6, hyperparameters=xy_space(),
        max_consecutive_failed_trials=12,
    )

    def function(hp):
        if hp.get("x") > 0.6:
            raise keras_tuner.errors.FailedTrialError("diverged")
        return {"loss": quadratic(hp)}

    function_tuner(oracle, function).search(verbose=0)
    statuses = [t.status for t in oracle.trials.values()]
    assert len(statuses) == 12
    assert "FAILED" in statuses
    assert oracle.get_best_trials(1)[0].status == "COMPLETED"
    assert_no_repeats(oracle)


def test_four_tuners_interleaving_no_duplicates_and_converge(make_oracle, tmp_path):
    oracle = make_oracle(objective="loss", max_trials=24, seed=8, hyperparameters=xy_space())
    oracle._set_project_dir(str(tmp_path), "distributed")
    oracle.verbose = 0
    errors = []

    def worker(tuner_id):
        try:
            while True:
                trial = oracle.create_trial(tuner_id)
                if trial.status != "RUNNING":
                    return
                v = trial.hyperparameters.values
                loss = (v["x"] - 0.3) ** 2 + (v["y"] - 0.6) ** 2
                oracle.update_trial(trial.trial_id, {"loss": loss})
                trial.status = "COMPLETED"
                oracle.end_trial(trial)
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(f"tuner{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(oracle.trials) == 24
    assert_no_repeats(oracle)
    assert oracle.get_best_trials(1)[0].score < tolerance(make_oracle) / 2


def test_pending_trials_get_distinct_configurations(make_oracle, drive_oracle):
    oracle = make_oracle(objective="loss", max_trials=20, seed=8, hyperparameters=xy_space())
    drive_oracle(oracle, lambda v: {"loss": (v["x"] - 0.3) ** 2 + (v["y"] - 0.6) ** 2}, 6)
    pending = [oracle.create_trial(f"worker{i}") for i in range(4)]
    points = np.array([[t.hyperparameters.values["x"], t.hyperparameters.values["y"]] for t in pending])
    distances = np.linalg.norm(points[:, None] - points[None], axis=-1)[np.triu_indices(4, 1)]
    assert distances.min() > 1e-3


def test_max_trials_respected(make_oracle, function_tuner):
    oracle = make_oracle(objective="loss", max_trials=5, seed=1, hyperparameters=xy_space())
    function_tuner(oracle, lambda hp: {"loss": quadratic(hp)}).search(verbose=0)
    assert len(oracle.trials) == 5


@pytest.mark.parametrize("max_trials", [0, -3, 2.5])
def test_bad_max_trials(make_oracle, max_trials):
    with pytest.raises(ValueError, match=f"max_trials.*Received: max_trials={max_trials}"):
        make_oracle(max_trials=max_trials)


def test_unreported_objective_raises_when_first_trial_ends(make_oracle, drive_oracle):
    oracle = make_oracle(objective="val_accuracy", max_trials=5, seed=1, hyperparameters=xy_space())
    with pytest.raises(ValueError, match=r"'val_accuracy'.*trial 0.*\['accuracy', 'loss'\]"):
        drive_oracle(oracle, lambda v: {"loss": 1.0, "accuracy": 0.5}, 1)


def test_end_trial_holds_the_oracle_lock(make_oracle, drive_oracle):
    # KerasTuner's `Oracle.end_trial` is `@synchronized`: while another thread holds the
    # oracle's lock (a parallel worker's call), nothing of end_trial may run.
    from keras_tuner.src.engine import oracle as oracle_module

    oracle = make_oracle(objective="loss", max_trials=5, seed=0, hyperparameters=xy_space())
    drive_oracle(oracle, lambda v: {"loss": v["x"]}, 1)
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"loss": 0.5})
    trial.status = "COMPLETED"
    lock = oracle_module.LOCKS[oracle]
    lock.acquire()
    try:
        worker = threading.Thread(target=oracle.end_trial, args=(trial,))
        worker.start()
        worker.join(timeout=0.3)
        assert worker.is_alive()
        assert trial.trial_id not in oracle.end_order
    finally:
        lock.release()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert oracle.trials[trial.trial_id].status == "COMPLETED"
