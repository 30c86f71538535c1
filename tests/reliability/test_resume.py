"""A search killed with SIGKILL mid-trial resumes with `overwrite=False` and loses nothing."""

import hashlib
import json

from kt_nasrepair import RepairTuner

from . import _processes as proc

MAX_TRIALS = 5


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _completed(project):
    """Score and checkpoint digest of every trial the oracle saved as COMPLETED."""
    done = {}
    for trial_id, status in proc.statuses(project).items():
        if status != "COMPLETED":
            continue
        trial_dir = project / f"trial_{trial_id}"
        with open(trial_dir / "trial.json") as f:
            score = json.load(f)["score"]
        done[trial_id] = (score, _digest(trial_dir / "checkpoint.weights.h5"))
    return done


def test_sigkill_mid_trial_then_resume_keeps_finished_work(tmp_path):
    directory, logs = tmp_path / "runs", tmp_path / "logs"
    project = directory / "distributed"
    args = ["--dataset", "digits", "--max-trials", str(MAX_TRIALS), "--epochs", "4",
            "--seed", "2", "--donor-pool", "1.0", "--shape-stable", "on",
            "--population", "2"]
    first = proc.start(directory, args, logs)
    try:
        running = proc.wait_for(
            lambda: [r for r in proc.records(project).values()
                     if r["ended_at"] is None and len(_completed(project)) >= 2],
            timeout=150, processes=[first], what="a trial running after two completed",
            log_dir=logs)
        proc.kill(first)
    finally:
        proc.kill_all([first])
    interrupted = running[0]["trial_id"]
    before = _completed(project)
    lineage_before = proc.records(project)
    assert interrupted not in before and len(before) >= 2

    second = proc.start(directory, args, logs)
    proc.finish([second], timeout=150, log_dir=logs)

    after = _completed(project)
    for trial_id, (score, digest) in before.items():
        assert after[trial_id] == (score, digest), f"trial {trial_id} changed on resume"
    tuner = RepairTuner(lambda hp: None, objective="val_accuracy", max_trials=MAX_TRIALS,
                        directory=directory, project_name="distributed")
    trials = tuner.oracle.trials
    assert len(trials) == MAX_TRIALS
    assert all(t.status == "COMPLETED" for t in trials.values())
    lineage = tuner.lineage()
    assert lineage[interrupted]["restarts"] == 1 and lineage[interrupted]["ended_at"]
    for trial_id in before:  # finished trials keep their records as they were
        assert lineage[trial_id] == lineage_before[trial_id]
    # Trials train in pairs; one left without a partner fits alone in the padded network.
    modes = [r["fit_mode"] for r in lineage.values()]
    assert all(m.startswith("population (") or m.startswith("shape_stable; alone")
               for m in modes), modes
    assert sum(m.startswith("population (") for m in modes) >= len(modes) // 2, modes
    for record in lineage.values():
        assert record["donor"] is None or trials[record["donor"]].status == "COMPLETED"


def test_a_trial_finished_just_before_a_kill_is_not_trained_again(tmp_path):
    # KerasTuner's end_trial saves the oracle while the trial is still in `ongoing_trials`
    # (it drops it after): a kill between that save and the next leaves the oracle file as
    # written here, and KerasTuner's reload would send the finished trial for retry.
    import keras
    from sklearn.datasets import load_digits

    from kt_nasrepair import DenseHyperModel

    digits = load_digits()
    x, y = (digits.data[:300] / 16).astype("float32"), digits.target[:300]

    def tuner(max_trials):
        hypermodel = DenseHyperModel((64,), 10, num_layers=(1, 2), units=(4, 8, 4))
        t = RepairTuner(hypermodel, objective="val_accuracy", max_trials=max_trials, seed=1,
                        population=1, directory=tmp_path, project_name="p")
        t.show_progress = False
        return t

    first = tuner(2)
    first.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    project = tmp_path / "p"
    before = _completed(project)
    assert set(before) == {"0", "1"}
    oracle_file = project / "oracle.json"
    state = json.loads(oracle_file.read_text())
    state["ongoing_trials"] = {"tuner0": "1"}
    oracle_file.write_text(json.dumps(state))
    keras.backend.clear_session()

    second = tuner(3)
    assert second.oracle._retry_queue == []
    second.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    after = _completed(project)
    assert set(after) == {"0", "1", "2"}
    for trial_id, (score, digest) in before.items():
        assert after[trial_id] == (score, digest), f"trial {trial_id} trained again"
