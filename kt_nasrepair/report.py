"""The table of a search's trials, which the plots and the text tables draw.

One row per trial, in the oracle's start order: its status, score, the best so far, its
architecture, where it started from (warm, cold, or continuing a Hyperband trial), whether it
grew, and its time, taken from its lineage record (one clock per trial). The progress line
reads a finished trial through the same functions (`active_values`, `record_seconds`).
"""

from __future__ import annotations

import math

from kt_nasrepair.dense_space import describe_architecture, widths

# KerasTuner's Hyperband writes the trial a trial continues into its values.
HYPERBAND_PARENT = "tuner/trial_id"


def active_values(trial) -> dict:
    """`{name: value}` of `trial`'s active hyperparameters, without Hyperband's `tuner/` ones."""
    hp = trial.hyperparameters
    is_active = getattr(hp, "is_active", lambda name: True)
    return {k: v for k, v in (getattr(hp, "values", None) or {}).items()
            if not str(k).startswith("tuner/") and is_active(k)}


def record_seconds(record: dict | None) -> float | None:
    """A trial's seconds from its lineage record (None when it has none).

    The wall time `ended_at - started_at` (both from `time.time()`), else `train_seconds`.
    """
    if not record:
        return None
    started, ended = record.get("started_at"), record.get("ended_at")
    if started is not None and ended is not None:
        return max(float(ended) - float(started), 0.0)
    seconds = record.get("train_seconds")
    return None if seconds is None else float(seconds)


def ordered_trials(oracle) -> list:
    """The oracle's trials in the order they started (KerasTuner's `oracle.start_order`).

    Trials it does not list follow, numerically by id (`"10"` after `"9"`, whatever the
    padding).
    """
    trials = oracle.trials

    def numeric(trial_id):
        text = str(trial_id)
        return (0, int(text), text) if text.isdigit() else (1, 0, text)

    started = [t for t in getattr(oracle, "start_order", None) or [] if t in trials]
    rest = sorted(set(trials) - set(started), key=numeric)
    return [trials[t] for t in dict.fromkeys(started + rest)]


def trial_table(tuner, durations: dict | None = None) -> list[dict]:
    """One row per trial of `tuner`, in the oracle's start order.

    Args:
        tuner: A `keras_tuner.Tuner`. With a `lineage()` method (a `RepairTuner`), donors,
            growth and times come from the trials' records; otherwise a trial continued by
            KerasTuner's `Hyperband` (`"tuner/trial_id"`) links to the trial it continues.
        durations: Optional `{trial_id: seconds}` used instead of the records' times, e.g.
            `SearchProgress.durations` for a tuner without records.

    Returns:
        Dicts with keys `trial_id`, `order` (1-based), `status`, `score` (None unless
        completed with a finite score), `best_so_far`, `best_trial_id`, `architecture`,
        `values` (the active hyperparameters), `widths` (hidden widths as trained, or None),
        `origin` (`"warm"`, `"cold"`, `"continues"`, or None when the tuner records no
        origins), `donor` (the trial it started from), `warm` (bool: it started from another
        trial's weights, or None when unknown), `grew` (bool), `seconds` and
        `cumulative_seconds` (None in every row when no trial has a time; an unknown time
        adds nothing).

    Raises:
        TypeError: when `tuner` has no `oracle` holding `trials`.

    Example:

    ```python
    rows = trial_table(tuner)
    rows[-1]["best_so_far"]  # the best objective value of the search
    ```
    """
    oracle = getattr(tuner, "oracle", None)
    if oracle is None or not hasattr(oracle, "trials"):
        raise TypeError("`tuner` must be a KerasTuner tuner (with an `oracle` holding "
                        f"`trials`). Received: tuner={tuner!r}")
    lineage = getattr(tuner, "lineage", None)
    records = (lineage() or {}) if callable(lineage) else None
    maximize = objective(oracle)[1] == "max"
    durations = durations or {}
    rows, best, best_id, total = [], None, None, 0.0
    for order, trial in enumerate(ordered_trials(oracle), start=1):
        trial_id = trial.trial_id
        record = (records or {}).get(trial_id) or {}
        values = active_values(trial)
        score = _finite_score(trial)
        if score is not None and (best is None or (score > best if maximize else score < best)):
            best, best_id = score, trial_id
        seconds = record_seconds(record)
        if durations.get(trial_id) is not None:
            seconds = float(durations[trial_id])
        total += seconds or 0.0
        parent = (getattr(trial.hyperparameters, "values", None) or {}).get(HYPERBAND_PARENT)
        origin, donor = ("cold", None) if record else (None, None)
        if record.get("donor") is not None:
            origin, donor = "warm", record["donor"]
        elif parent is not None:
            origin, donor = "continues", parent
        growth = record.get("growth") or []
        hidden = widths(values)
        if growth and growth[-1].get("widths_after"):
            hidden = [int(w) for w in growth[-1]["widths_after"]]  # as trained
        rows.append({
            "trial_id": trial_id, "order": order, "status": trial.status, "score": score,
            "best_so_far": best, "best_trial_id": best_id,
            "architecture": describe_architecture(values), "values": values,
            "widths": hidden, "origin": origin, "donor": donor, "grew": bool(growth),
            "seconds": seconds, "cumulative_seconds": total,
        })
    known = records is not None or any(row["origin"] for row in rows)
    timed = any(row["seconds"] is not None for row in rows)
    for row in rows:
        if known and row["origin"] is None:
            row["origin"] = "cold"
        row["warm"] = None if not known else row["origin"] != "cold"
        if not timed:
            row["cumulative_seconds"] = None
    return rows


def objective(oracle) -> tuple[str, str]:
    """`(name, direction)` of `oracle`'s objective; `("score", "max")` where unknown."""
    found = getattr(oracle, "objective", None)
    direction = getattr(found, "direction", "max")
    return getattr(found, "name", None) or "score", "min" if direction == "min" else "max"


def _finite_score(trial):
    if trial.status != "COMPLETED" or trial.score is None:
        return None
    try:
        score = float(trial.score)
    except (TypeError, ValueError):
        return None
    return score if math.isfinite(score) else None


def format_table(header, rows) -> str:
    """An aligned plain-text table: the header, a rule of dashes, one line per row."""
    cells = [[str(c) for c in row] for row in rows]
    sizes = [max([len(str(h))] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    lines = [header, ["-" * w for w in sizes]] + cells
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, sizes)).rstrip()
                     for line in lines)


def trial_rows(tuner) -> list[dict]:
    """One dict per trial, in start order: id, status, score and hyperparameter values.

    Args:
        tuner: A `keras_tuner.Tuner` (any subclass).

    Returns:
        A list of dicts with keys `trial_id`, `status`, `score` and one per active
        hyperparameter.
    """
    return [{"trial_id": row["trial_id"], "status": row["status"], "score": row["score"],
             **row["values"]} for row in trial_table(tuner)]


def results_table(tuner, extra_columns: dict | None = None) -> str:
    """Formats every trial of `tuner` as an aligned text table.

    Args:
        tuner: A `keras_tuner.Tuner`.
        extra_columns: Optional `{column name: {trial_id: value}}` appended to each row.

    Returns:
        The table as a string.
    """
    rows = trial_rows(tuner)
    for row in rows:
        for column, values in (extra_columns or {}).items():
            row[column] = values.get(row["trial_id"], "")
    columns = list(dict.fromkeys(c for row in rows for c in row))
    return format_table(columns, [[_format_value(row.get(c, "")) for c in columns]
                                  for row in rows])


def _format_value(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
