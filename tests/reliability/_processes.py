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


def start(directory, search_args, log_dir, tuner_id=None, port=None):
    """Starts examples/distributed/search.py, as a distributed role when `tuner_id` is set."""
    env = dict(os.environ, PYTHONPATH=ROOT, KT_NASREPAIR_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(key, None)
    if tuner_id is not None:
        env.update(KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                   KERASTUNER_ORACLE_PORT=str(port))
    os.makedirs(log_dir, exist_ok=True)
    log = open(os.path.join(log_dir, f"{tuner_id or 'single'}.log"), "ab")
    return subprocess.Popen(
        [sys.executable, SEARCH, "--directory", str(directory), *search_args],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )


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
