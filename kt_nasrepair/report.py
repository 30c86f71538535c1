"""The table of a search's trials (one row each) that the plots and text tables draw.

The progress line reads a trial through the same helpers; a trial's time is its record's.
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
    """A trial's seconds from its lineage record: `ended_at - started_at`, else `train_seconds`."""
    if not record:
        return None
    started, ended = record.get("started_at"), record.get("ended_at")
    if started is not None and ended is not None:
        return max(float(ended) - float(started), 0.0)
    seconds = record.get("train_seconds")
    return None if seconds is None else float(seconds)


def ordered_trials(oracle) -> list:
    """The oracle's trials in `oracle.start_order`, then the unlisted ones numerically by id."""
    trials = oracle.trials
    started = [t for t in getattr(oracle, "start_order", None) or [] if t in trials]
    rest = sorted(set(trials) - set(started),
                  key=lambda t: (0, int(t), str(t)) if str(t).isdigit() else (1, 0, str(t)))
    return [trials[t] for t in dict.fromkeys(started + rest)]


def trial_table(tuner, durations: dict | None = None) -> list[dict]:
    """One row per trial of `tuner`, in the oracle's start order.

    Args:
        tuner: A `keras_tuner.Tuner`; a `RepairTuner`'s records give donors, growth and times.
        durations: Optional `{trial_id: seconds}` used instead of the records' times.

    Returns:
        Dicts with keys `trial_id`, `order` (1-based), `status`, `score` (None unless completed
        and finite), `best_so_far`, `best_trial_id`, `architecture`, `values` (active
        hyperparameters), `widths` (as trained, or None), `origin` (`"warm"`, `"cold"`,
        `"continues"`, or None when unknown), `donor`, `warm` (bool, None when unknown),
        `grew`, `seconds` and `cumulative_seconds` (None in every row when no trial is timed).

    Raises:
        TypeError: when `tuner` has no `oracle` holding `trials`.
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
        origin, donor = ("cold" if record else None), None
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
    """One dict per trial, in start order: `trial_id`, `status`, `score` and each active value."""
    return [{"trial_id": row["trial_id"], "status": row["status"], "score": row["score"],
             **row["values"]} for row in trial_table(tuner)]


def results_table(tuner, extra_columns: dict | None = None) -> str:
    """Every trial of `tuner` as an aligned text table.

    Args:
        tuner: A `keras_tuner.Tuner`.
        extra_columns: Optional `{column name: {trial_id: value}}` appended to each row.
    """
    rows = [{**row, **{column: values.get(row["trial_id"], "")
                       for column, values in (extra_columns or {}).items()}}
            for row in trial_rows(tuner)]
    columns = list(dict.fromkeys(c for row in rows for c in row))
    return format_table(columns, [[f"{v:.4g}" if isinstance(v, float) else str(v)
                                   for v in (row.get(c, "") for c in columns)] for row in rows])
