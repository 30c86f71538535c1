"""RepairTuner with each of our oracles on KerasTuner's chief/worker engine, on loopback.

A chief and two workers share one directory. The second worker starts once the first has
finished a trial, so its first trial must warm-start from a trial the other worker trained (the
`training` space makes every trial reachable from every other); it is then SIGKILLed mid-trial
and restarted with the same id, and the search must still finish with nothing lost.
"""

import socket

import pytest

from kt_nasrepair import RepairTuner

from . import _processes as proc

# Enough trials that the first worker is still busy when the second joins and when its
# replacement resumes; both start without delay (held, already imported), so a few suffice.
MAX_TRIALS = 8


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("strategy", ["entropy", "quasi_random"])
def test_chief_and_two_workers_share_warm_starts_and_survive_a_killed_worker(tmp_path, strategy):
    directory, logs = tmp_path / "runs", tmp_path / "logs"
    project = directory / "distributed"
    args = ["--strategy", strategy, "--dataset", "digits", "--max-trials", str(MAX_TRIALS),
            "--epochs", "6", "--space", "training", "--seed", "1", "--shape-stable", "on",
            "--population", "2"]
    port = _free_port()
    # tuner1 and its replacement import while tuner0 trains, and run only when released: the
    # test does not wait for their start-up (a TensorFlow import each) at the moment they join.
    joins, rejoins = tmp_path / "tuner1.go", tmp_path / "tuner1_again.go"
    chief = proc.start(directory, args, logs, "chief", port)
    tuner0 = proc.start(directory, args, logs, "tuner0", port)
    tuner1 = proc.start(directory, args, logs, "tuner1", port, hold=joins)
    replacement = proc.start(directory, args, logs, "tuner1", port, hold=rejoins)
    processes = [chief, tuner0, tuner1, replacement]
    try:
        proc.wait_for(
            lambda: "COMPLETED" in proc.statuses(project).values(),
            timeout=120, processes=processes, what="tuner0's first trial", log_dir=logs)
        proc.release(joins)
        running = proc.wait_for(
            lambda: [r for r in proc.records(project).values()
                     if r["tuner_id"] == "tuner1" and r["ended_at"] is None],
            timeout=90, processes=processes, what="tuner1 mid-trial", log_dir=logs)
        killed_trial = running[0]["trial_id"]
        proc.kill(tuner1)
        processes.remove(tuner1)
        proc.release(rejoins)  # the same tuner id again: it resumes the killed trial
        proc.finish([tuner0, replacement], timeout=150, log_dir=logs)  # the two workers
        proc.stop_finished_chief(chief, log_dir=logs)
    finally:
        proc.kill_all(processes)

    tuner = RepairTuner(lambda hp: None, objective="val_accuracy", max_trials=MAX_TRIALS,
                        strategy=strategy, directory=directory, project_name="distributed")
    trials = tuner.oracle.trials
    assert len(trials) == MAX_TRIALS
    assert all(t.status == "COMPLETED" for t in trials.values()), {
        tid: (t.status, t.message) for tid, t in trials.items()}
    values = [tuple(sorted(t.hyperparameters.values.items())) for t in trials.values()]
    assert len(set(values)) == len(values), "a configuration was proposed twice"

    lineage = tuner.lineage()
    assert sorted(lineage) == sorted(trials)
    assert {r["tuner_id"] for r in lineage.values()} == {"tuner0", "tuner1"}
    # Trials train in pairs; one left without a partner fits alone in the padded network.
    modes = [r["fit_mode"] for r in lineage.values()]
    assert all(m.startswith("population (") or m.startswith("shape_stable; alone")
               for m in modes), modes
    assert sum(m.startswith("population (") for m in modes) >= len(modes) // 2, modes
    assert lineage[killed_trial]["restarts"] == 1 and lineage[killed_trial]["ended_at"]
    cross = [r for r in lineage.values()
             if r["donor"] is not None and lineage[r["donor"]]["tuner_id"] != r["tuner_id"]]
    assert cross, lineage
    # tuner1's first trial had only tuner0's trials to start from.
    assert lineage[killed_trial]["donor"] is not None
    assert lineage[lineage[killed_trial]["donor"]]["tuner_id"] == "tuner0"
