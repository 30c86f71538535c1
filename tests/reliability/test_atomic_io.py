"""Every file we write is replaced atomically: readers see the old or the new file, never half."""

import json
import os
import signal
import subprocess
import sys
import time

import keras_tuner
import pytest

from kt_nasrepair import oracles
from kt_nasrepair._io import atomic_write_json, read_json

WRITER = """
import sys
from kt_nasrepair._io import atomic_write_json
path = sys.argv[1]
i = 0
while True:
    i += 1
    atomic_write_json(path, {"i": i, "payload": ["x" * 1000] * 2000})
"""


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "state.json"
    atomic_write_json(path, {"version": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"version": 2, "bad": object()})
    assert read_json(path) == {"version": 1}
    assert os.listdir(tmp_path) == ["state.json"]


def test_sigkill_during_writes_never_leaves_an_unreadable_file(tmp_path):
    path = tmp_path / "state.json"
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    seen = []
    for attempt in range(5):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)],
                                  env=dict(os.environ, PYTHONPATH=root))
        deadline = time.monotonic() + 30
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05 + 0.07 * attempt)  # land the kill at different points of a write
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=30)
        with open(path) as f:
            data = json.load(f)  # raises on a torn file
        assert len(data["payload"]) == 2000
        seen.append(data["i"])
    assert seen == sorted(seen) and seen[-1] > 1


@pytest.mark.parametrize("cls", [oracles.QuasiRandomSearchOracle, oracles.EntropySearchOracle])
def test_our_oracles_write_their_files_atomically(tmp_path, cls, monkeypatch):
    oracle = cls(objective="val_accuracy", max_trials=3, seed=0)
    oracle._set_project_dir(str(tmp_path), "p")
    hp = keras_tuner.HyperParameters()
    hp.Int("units", 1, 10)
    oracle.update_space(hp)
    written = []
    import kt_nasrepair.oracles._base as base

    def spy(path, data):
        written.append(os.path.basename(path))
        atomic_write_json(path, data)

    monkeypatch.setattr(base, "atomic_write_json", spy)
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    assert "oracle.json" in written and "trial.json" in written
    reloaded = cls(objective="val_accuracy", max_trials=3, seed=0)
    reloaded._set_project_dir(str(tmp_path), "p")
    reloaded.reload()
    assert reloaded.trials[trial.trial_id].score == pytest.approx(0.5)
