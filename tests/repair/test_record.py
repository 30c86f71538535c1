"""`TrialRecord`: typed, versioned, written at checkpoints and at the end, read back rarely."""

import numpy as np
import pytest

from kt_nasrepair import DenseHyperModel, RepairTuner
from kt_nasrepair.report import record_seconds
from kt_nasrepair.repair.record import SCHEMA_VERSION, TrialRecord
from kt_nasrepair.repair.trial_run import TrialRun


def test_record_round_trips_and_drops_keys_it_does_not_know(tmp_path):
    record = TrialRecord("07", donor="03", ops=["widen dense_0 4->8"], started_at=10.0,
                         ended_at=12.5)
    values = record.to_dict()
    assert values["schema_version"] == SCHEMA_VERSION == 1
    assert TrialRecord.from_dict({**values, "added_later": 1}) == record
    assert record_seconds(record.to_dict()) == pytest.approx(2.5)
    record.write(str(tmp_path))
    assert TrialRecord.read(str(tmp_path)) == record
    assert TrialRecord.read(str(tmp_path / "missing")) is None


def test_a_run_writes_its_record_at_its_start_each_checkpoint_and_its_end(tmp_path, monkeypatch):
    writes, saves = [], []
    write, save = TrialRecord.write, TrialRun._on_checkpoint
    monkeypatch.setattr(TrialRecord, "write",
                        lambda self, d: (writes.append(self.trial_id), write(self, d))[1])
    monkeypatch.setattr(TrialRun, "_on_checkpoint",
                        lambda self, m, e: (saves.append(self.trial_id), save(self, m, e))[1])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype("float32")
    y = rng.integers(0, 3, 64)
    tuner = RepairTuner(DenseHyperModel((8,), 3, num_layers=(1, 2), units=(2, 6, 2)),
                        objective="val_loss", max_trials=2, strategy="quasi_random", seed=1,
                        directory=str(tmp_path), project_name="p")
    tuner.search(x, y, epochs=3, validation_split=0.25, verbose=0)
    for trial_id in tuner.oracle.trials:
        assert saves.count(trial_id) >= 1
        assert writes.count(trial_id) == saves.count(trial_id) + 2, (writes, saves)
    # This process ran every trial: its records come from memory, never from disk.
    monkeypatch.setattr(TrialRecord, "read", classmethod(lambda cls, d: pytest.fail(d)))
    lineage = tuner.lineage()
    assert sorted(lineage) == sorted(tuner.oracle.trials)
    assert all(r["ended_at"] >= r["started_at"] for r in lineage.values())
