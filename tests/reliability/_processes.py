"""Real processes for the reliability tests: start, watch the shared directory, kill."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEARCH = os.path.join(ROOT, "examples", "distributed", "search.py")


# Imports what search.py needs (the slow part of its start-up), then waits for `go` to exist
# before running it: a process started ahead of the moment it is needed.
_HELD = """
import os, runpy, sys, time
import keras, keras_tuner, kt_nasrepair, sklearn.datasets
go, script = sys.argv[1], sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.05)
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""


def start(directory, search_args, log_dir, tuner_id=None, port=None, hold=None):
    """Starts examples/distributed/search.py, as a distributed role when `tuner_id` is set.

    With `hold` (a path), the process imports Keras, KerasTuner and kt_nasrepair at once and
    runs the search only when `hold` exists (`release(hold)`): a worker that must join at a
    given moment does not make the test wait for its imports then.
    """
    env = dict(os.environ, PYTHONPATH=ROOT, KT_NASREPAIR_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(key, None)
    if tuner_id is not None:
        env.update(KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                   KERASTUNER_ORACLE_PORT=str(port))
    os.makedirs(log_dir, exist_ok=True)
    log = open(os.path.join(log_dir, f"{tuner_id or 'single'}.log"), "ab")
    command = [SEARCH, "--directory", str(directory), *search_args]
    if hold is not None:
        command = ["-c", _HELD, str(hold), *command]
    return subprocess.Popen(
        [sys.executable, *command],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )


def release(hold):
    """Lets a process started with `start(..., hold=hold)` run its search."""
    open(hold, "w").close()


def records(project_dir) -> dict:
    """The lineage records (`repair.json`) found under `project_dir`, by trial id."""
    found = {}
    for path in glob.glob(os.path.join(str(project_dir), "trial_*", "repair.json")):
        try:
            with open(path) as f:
                record = json.load(f)
        except ValueError:  # atomic writes make this impossible; fail loudly if not
            raise AssertionError(f"unreadable lineage record {path}")
        found[record["trial_id"]] = record
    return found


def statuses(project_dir) -> dict:
    """The status of each trial as the (chief's) oracle last saved it in `trial.json`."""
    found = {}
    for path in glob.glob(os.path.join(str(project_dir), "trial_*", "trial.json")):
        try:
            with open(path) as f:
                trial = json.load(f)
        except ValueError:  # KerasTuner's own file, not written atomically: retry later
            continue
        found[trial["trial_id"]] = trial["status"]
    return found


def wait_for(condition, timeout, processes=(), what="condition", log_dir=None):
    """Polls `condition()` until true; fails when `timeout` passes or a process dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for process in processes:
            if process.poll() not in (None, 0):
                raise AssertionError(f"{process.args} exited with {process.returncode} while "
                                     f"waiting for {what}\n{logs(log_dir)}")
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs(log_dir)}")


def finish(processes, timeout, log_dir=None):
    """Waits for every process to exit 0 within `timeout` seconds; kills them otherwise."""
    deadline = time.monotonic() + timeout
    try:
        for process in processes:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{process.args} did not finish in {timeout} s\n"
                                     f"{logs(log_dir)}")
            assert process.returncode == 0, f"{process.args} exited {process.returncode}\n" \
                                            f"{logs(log_dir)}"
    finally:
        kill_all(processes)


def stop_finished_chief(chief, log_dir=None):
    """Stops a chief whose workers have all exited 0, instead of waiting out its exit poll.

    KerasTuner's chief checks only every 20 s whether it may exit (`oracle_chief.start_server`
    sleeps 20 s between checks), so waiting for it adds up to 20 s of idle to a test. Nothing is
    lost by stopping it: its oracle saves its state before answering each request, so once
    every worker has had its last answer and exited, the search is complete on disk. The chief
    must not have failed: still running, or exited 0.
    """
    status = chief.poll()
    assert status in (None, 0), f"the chief exited {status}\n{logs(log_dir)}"
    kill_all([chief])


def kill(process):
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def kill_all(processes):
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def logs(log_dir) -> str:
    if log_dir is None:
        return ""
    text = []
    for path in sorted(glob.glob(os.path.join(str(log_dir), "*.log"))):
        with open(path, errors="replace") as f:
            text.append(f"--- {os.path.basename(path)} ---\n" + f.read()[-3000:])
    return "\n".join(text)
