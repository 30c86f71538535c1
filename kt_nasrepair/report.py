"""Plain-text tables of a finished (or running) search."""

from __future__ import annotations


def _format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def trial_rows(tuner) -> list[dict]:
    """One dict per trial, in creation order: id, status, score and hyperparameter values.

    Args:
        tuner: A `keras_tuner.Tuner` (any subclass).

    Returns:
        A list of dicts with keys `trial_id`, `status`, `score` and one per active
        hyperparameter.
    """
    rows = []
    for trial_id, trial in sorted(tuner.oracle.trials.items()):
        row = {"trial_id": trial_id, "status": trial.status, "score": trial.score}
        hp = trial.hyperparameters
        for name, value in hp.values.items():
            if not name.startswith("tuner/") and hp.is_active(name):
                row[name] = value
        rows.append(row)
    return rows


def results_table(tuner, extra_columns: dict | None = None) -> str:
    """Formats every trial of `tuner` as an aligned text table.

    Args:
        tuner: A `keras_tuner.Tuner`.
        extra_columns: Optional `{column name: {trial_id: value}}` appended to each row.

    Returns:
        The table as a string.
    """
    rows = trial_rows(tuner)
    extra_columns = extra_columns or {}
    for row in rows:
        for column, values in extra_columns.items():
            row[column] = values.get(row["trial_id"], "")
    columns = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    cells = [[_format_value(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)
