"""How a trial's lineage record reads: one line, one origin, and the lineage table."""

from __future__ import annotations

from kt_nasrepair.dense_space import describe_architecture
from kt_nasrepair.report import active_values, format_table


def describe_record(record: dict | None) -> str:
    """One human-readable line about a trial's start and growth."""
    if record is None:
        return "Start: unknown (no lineage record)"
    if record.get("donor") is not None:
        ops = ", ".join(record.get("ops") or []) or "weights copied as they are"
        parts = [f"Warm start from trial {record['donor']} ({ops})"]
    else:
        parts = [f"Cold start: {record.get('reason')}"]
    if record.get("promoted") is not None:
        parts.append(f"{'promoted' if record['promoted'] else 'stopped'} after "
                     f"{record.get('warm_epochs')} warm epochs ({record.get('epochs_trained')} "
                     "trained)")
    parts += [f"grew at epoch {g['epoch']}: {g['widths_before']} -> {g['widths_after']}"
              for g in record.get("growth") or []]
    parts += [f"growth skipped at epoch {s['epoch']} ({s['reason']})"
              for s in record.get("growth_skipped") or []]
    if record.get("non_finite_epochs"):
        parts.append(f"non-finite epochs left out of the score: {record['non_finite_epochs']}")
    return "; ".join(parts)


# NOTE: a cold reason (every donor's refusal, joined) can run to hundreds of characters; the
# table keeps one line per trial and the record the whole text.
_MAX_ORIGIN_CHARS = 60


def describe_origin(record: dict) -> str:
    """`"warm from 03"`, `"continues 0003"` or `"cold: <why>"`: a trial's start, for a table."""
    if record.get("donor") is not None:
        return f"warm from {record['donor']}"
    reason = str(record.get("reason") or "no reason recorded")
    if reason.startswith("continues Hyperband trial "):
        return "continues " + reason.split()[3]
    text = f"cold: {reason}"
    if len(text) > _MAX_ORIGIN_CHARS:  # the headline, before the details of each donor
        text = f"cold: {reason.split(': ', 1)[0]}"
    return text if len(text) <= _MAX_ORIGIN_CHARS else text[: _MAX_ORIGIN_CHARS - 3] + "..."


class Lineage(dict):
    """A plain `{trial_id: record}` dict (what `lineage()` returns) that prints as a table.

    Args:
        records: `{trial_id: record}`.
        trials: The oracle's `{trial_id: Trial}`, for the architecture and score columns.
    """

    def __init__(self, records: dict, trials: dict | None = None):
        super().__init__(records)
        self._columns = {
            trial_id: (describe_architecture(active_values(trial)), trial.score)
            for trial_id, trial in (trials or {}).items()
        }

    def table(self) -> str:
        """The aligned text table that `str()` and `repr()` show."""
        rows = []
        for trial_id, record in self.items():
            architecture, score = getattr(self, "_columns", {}).get(trial_id, ("-", None))
            epochs = record.get("epochs_trained")
            rows.append((trial_id, architecture, describe_origin(record),
                         "-" if epochs is None else epochs,
                         "-" if score is None else f"{float(score):.4g}"))
        return format_table(("trial", "architecture", "origin", "epochs trained", "score"), rows)

    __str__ = __repr__ = table
