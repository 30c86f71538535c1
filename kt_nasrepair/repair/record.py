"""`TrialRecord`: what one trial run did, typed, written to `repair.json` in its directory."""

from __future__ import annotations

import dataclasses
import glob
import os

from kt_nasrepair._io import atomic_write_json, read_json

RECORD_FILENAME = "repair.json"
SCHEMA_VERSION = 1


@dataclasses.dataclass
class TrialRecord:
    """The lineage record of one trial (docs/warm_start.md lists what each field means).

    Written by its `TrialRun` at every best-epoch checkpoint and once at the end; read back
    only on resume and for the trials of other workers. `lineage()` shows it as a dict, and
    its `started_at`/`ended_at` are the trial's one clock (`report.record_seconds`).
    """

    trial_id: str
    donor: str | None = None
    ops: list = dataclasses.field(default_factory=list)
    reason: str | None = None
    short_reason: str | None = None
    refused: list = dataclasses.field(default_factory=list)
    growth: list = dataclasses.field(default_factory=list)
    growth_skipped: list = dataclasses.field(default_factory=list)
    transfer_seconds: float | None = None
    max_deviation: float | None = None
    started_at: float | None = None
    train_seconds: float | None = None
    ended_at: float | None = None
    repairs: dict | None = None
    tuner_id: str | None = None
    restarts: int = 0
    execution: int = 0
    epochs_trained: int | None = None
    warm_epochs: int | None = None
    value_at_warm_epochs: float | None = None
    promoted: bool | None = None
    donor_epochs: int | None = None
    checkpoint: dict | None = None
    non_finite_epochs: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    fit_mode: str | None = None
    error: str | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrialRecord:
        """The record of `values`; keys this version does not know are dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def write(self, trial_dir: str) -> None:
        """Writes the record atomically (readers never see half a file)."""
        atomic_write_json(record_fname(trial_dir), self.to_dict())

    @classmethod
    def read(cls, trial_dir: str) -> TrialRecord | None:
        """The record in `trial_dir`, or None when it has none (or it is unreadable)."""
        values = read_json(record_fname(trial_dir))
        return cls.from_dict(values) if isinstance(values, dict) else None


def record_fname(trial_dir: str) -> str:
    """The record's path in a trial's directory."""
    return os.path.join(trial_dir, RECORD_FILENAME)


def lineage_epochs(record: dict | None) -> int:
    """Epochs of training behind a trial's weights: its own plus its donors', recursively."""
    if not record:
        return 0
    return int(record.get("epochs_trained") or 0) + int(record.get("donor_epochs") or 0)


def missing_record(trial_id) -> dict:
    """The record shown for a trial that has none (not started, or run by another tuner)."""
    reason = "no lineage recorded (trial not run by RepairTuner, or not started)"
    return TrialRecord(trial_id, reason=reason).to_dict()


def recorded_trial_ids(project_dir: str) -> list[str]:
    """Ids of the trials under `project_dir` that have a record."""
    paths = glob.glob(os.path.join(project_dir, "trial_*", RECORD_FILENAME))
    return sorted(os.path.basename(os.path.dirname(p))[len("trial_"):] for p in paths)
