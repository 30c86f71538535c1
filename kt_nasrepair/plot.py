"""Pictures of a search: the best-so-far curve and the warm-start tree.

Works with any KerasTuner tuner. With a `RepairTuner` (anything with a `lineage()` method) the
plots also show which trials were warm-started, which grew during training, and training times;
with KerasTuner's `Hyperband`, its `"tuner/trial_id"` parent links are shown as warm starts.
The data behind the pictures comes from `history_table`, a pure function tested on its own.

matplotlib is an optional dependency (`pip install 'kt-nasrepair[examples]'`); the figures are
drawn on the Agg canvas directly, so the user's pyplot backend and state are never touched.
"""

from __future__ import annotations

import math
import os

from kt_nasrepair.hypermodel import NUM_LAYERS
from kt_nasrepair.hypermodel import UNITS
from kt_nasrepair.hypermodel import units_name

_HYPERBAND_PARENT = "tuner/trial_id"
_INSTALL_HINT = "pip install 'kt-nasrepair[examples]'"
_DPI = 100
_COLD = "#1f77b4"
_WARM = "#ff7f0e"
_FAILED = "#d62728"
_BEST = "#2ca02c"


# -- data ------------------------------------------------------------------------------------


def history_table(tuner, durations: dict | None = None) -> list[dict]:
    """One row per trial, in creation order, with the numbers the plots draw.

    Times come, in this order of preference, from `durations`, from the lineage's
    `train_seconds`, or from its `ended_at - started_at`. A trial whose time is unknown adds
    nothing to `cumulative_seconds`; when no trial has a known time, every row's
    `cumulative_seconds` is None.

    Args:
        tuner: A `keras_tuner.Tuner`. When it has a `lineage()` method (a `RepairTuner`),
            donors, growth and times are read from it; otherwise donors come from the
            `"tuner/trial_id"` value KerasTuner's `Hyperband` writes, if any.
        durations: Optional `{trial_id: seconds}`, e.g. `SearchProgress.durations`.

    Returns:
        A list of dicts with keys `trial_id`, `order` (1-based), `status`, `score` (None
        unless completed with a finite score), `best_so_far`, `best_trial_id`, `seconds`,
        `cumulative_seconds`, `warm` (bool, or None when the tuner records no warm starts),
        `donor`, `grew`
        (bool) and `widths` (hidden widths as trained, or None).

    Raises:
        TypeError: when `tuner` has no `oracle`.

    Example:

    ```python
    rows = history_table(tuner)
    rows[-1]["best_so_far"]  # the best objective value of the search
    ```
    """
    oracle = _oracle(tuner)
    direction = _direction(oracle)
    records = _lineage_records(tuner)
    durations = durations or {}
    rows = []
    best = best_id = None
    cumulative = 0.0
    for order, (trial_id, trial) in enumerate(_ordered_trials(oracle), start=1):
        record = records.get(trial_id) if records is not None else None
        score = _finite_score(trial)
        if score is not None and (
            best is None or (score > best if direction == "max" else score < best)
        ):
            best, best_id = score, trial_id
        seconds = _trial_seconds(trial_id, record, durations)
        if seconds is not None:
            cumulative += seconds
        donor = record.get("donor") if record else None
        rows.append(
            {
                "trial_id": trial_id,
                "order": order,
                "status": trial.status,
                "score": score,
                "best_so_far": best,
                "best_trial_id": best_id,
                "seconds": seconds,
                "cumulative_seconds": cumulative,
                "warm": None if records is None else donor is not None,
                "donor": donor,
                "grew": bool(record and record.get("growth")),
                "widths": _widths(trial, record),
            }
        )
    if not any(row["seconds"] is not None for row in rows):
        for row in rows:
            row["cumulative_seconds"] = None
    return rows


def _oracle(tuner):
    oracle = getattr(tuner, "oracle", None)
    if oracle is None or not hasattr(oracle, "trials"):
        raise TypeError(
            "`tuner` must be a KerasTuner tuner (with an `oracle` holding `trials`). "
            f"Received: tuner={tuner!r}"
        )
    return oracle


def _direction(oracle) -> str:
    direction = getattr(getattr(oracle, "objective", None), "direction", "max")
    return direction if direction in ("max", "min") else "max"


def _objective_name(oracle) -> str:
    return getattr(getattr(oracle, "objective", None), "name", None) or "score"


def _lineage_records(tuner):
    lineage = getattr(tuner, "lineage", None)
    if callable(lineage):
        return lineage() or {}
    # KerasTuner's Hyperband warm-starts too: it writes the parent trial's id into the
    # trial's values as "tuner/trial_id". Read it so its brackets show as a tree.
    parents = {
        trial_id: (getattr(trial.hyperparameters, "values", None) or {}).get(_HYPERBAND_PARENT)
        for trial_id, trial in tuner.oracle.trials.items()
    }
    if not any(parent is not None for parent in parents.values()):
        return None
    return {trial_id: {"donor": parent} for trial_id, parent in parents.items()}


def _ordered_trials(oracle):
    # KerasTuner numbers trials with zero-padded counters; sort numerically when ids are
    # numbers so that "10" follows "9" even where padding differs (a resumed directory).
    def key(item):
        trial_id = str(item[0])
        return (0, int(trial_id), trial_id) if trial_id.isdigit() else (1, 0, trial_id)

    return sorted(oracle.trials.items(), key=key)


def _finite_score(trial):
    if trial.status != "COMPLETED" or trial.score is None:
        return None
    try:
        score = float(trial.score)
    except (TypeError, ValueError):
        return None
    return score if math.isfinite(score) else None


def _trial_seconds(trial_id, record, durations):
    if trial_id in durations and durations[trial_id] is not None:
        return float(durations[trial_id])
    if not record:
        return None
    if record.get("train_seconds") is not None:
        return float(record["train_seconds"])
    started, ended = record.get("started_at"), record.get("ended_at")
    if started is not None and ended is not None:
        return max(float(ended) - float(started), 0.0)
    return None


def _widths(trial, record):
    growth = (record or {}).get("growth") or []
    if growth and growth[-1].get("widths_after"):
        return [int(w) for w in growth[-1]["widths_after"]]
    values = getattr(trial.hyperparameters, "values", {}) or {}
    depth = values.get(NUM_LAYERS)
    if depth is None:
        return None
    depth = int(depth)
    if values.get(UNITS) is not None:
        return [int(values[UNITS])] * depth
    widths = [values.get(units_name(i)) for i in range(depth)]
    if any(width is None for width in widths):
        return None
    return [int(width) for width in widths]


# -- drawing ---------------------------------------------------------------------------------


def _figure(width_in: float, height_in: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            f"kt_nasrepair.plot needs matplotlib. Install it with: {_INSTALL_HINT}"
        ) from error
    figure = Figure(figsize=(width_in, height_in), dpi=_DPI)
    FigureCanvasAgg(figure)
    return figure


def _check_path(path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike. Received: path={path!r}")
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    return path


def _save(figure, path: str) -> str:
    figure.savefig(path, format="png", dpi=_DPI)
    return path


def search_history(tuner, path, durations: dict | None = None) -> str:
    """Saves a PNG of the search's progress: best so far against training time and trial number.

    Left panel: best-so-far objective against cumulative training time (seconds); right panel:
    against trial number. Each completed trial's own score is a point: circles for cold starts,
    triangles for warm starts (a donor was used), a ring for trials that grew during training,
    the best trial starred. Failed trials are crosses along the bottom and counted in the title.
    Without training times (a plain KerasTuner tuner and no `durations`), the left panel says so.

    Args:
        tuner: A `keras_tuner.Tuner` (a `RepairTuner` adds warm/cold marks and times).
        path: Where to write the PNG; parent folders are created.
        durations: Optional `{trial_id: seconds}`, e.g. `tuner.progress.durations` from
            `kt_nasrepair.progress.with_progress`.

    Returns:
        `path`, as a string.

    Raises:
        ImportError: when matplotlib is missing (names the pip extra).
        TypeError: for a `tuner` without an oracle or a `path` that is not a path.

    Example:

    ```python
    tuner.search(x, y, validation_data=(x_val, y_val), epochs=3)
    kt_nasrepair.plot.search_history(tuner, "plots/history.png")
    ```
    """
    path = _check_path(path)
    rows = history_table(tuner, durations=durations)
    oracle = _oracle(tuner)
    name, direction = _objective_name(oracle), _direction(oracle)

    figure = _figure(12.0, 4.8)
    from matplotlib.ticker import MaxNLocator

    time_axes, trial_axes = figure.subplots(1, 2)
    has_times = bool(rows) and rows[0]["cumulative_seconds"] is not None
    if has_times:
        _draw_history(time_axes, rows, "cumulative_seconds", direction)
        time_axes.set_xlabel("cumulative training time (s)")
    else:
        time_axes.text(
            0.5,
            0.5,
            "no training times recorded\n(use RepairTuner, or pass durations=)",
            ha="center",
            va="center",
            transform=time_axes.transAxes,
            color="0.4",
        )
        time_axes.set_xticks([])
        time_axes.set_yticks([])
    _draw_history(trial_axes, rows, "order", direction)
    trial_axes.set_xlabel("trial number")
    trial_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    better = "higher" if direction == "max" else "lower"
    for axes in (time_axes, trial_axes):
        axes.set_ylabel(f"{name} ({better} is better)")
        axes.grid(True, alpha=0.3)
    handles, labels = trial_axes.get_legend_handles_labels()
    if handles:
        trial_axes.legend(handles, labels, loc="best", fontsize="small")
    figure.suptitle(_history_title(rows, name))
    figure.tight_layout()
    return _save(figure, path)


def _history_title(rows, name) -> str:
    failed = sum(1 for row in rows if row["status"] in ("FAILED", "INVALID"))
    warm = sum(1 for row in rows if row["warm"])
    parts = [f"{len(rows)} trials"]
    if any(row["warm"] is not None for row in rows):
        parts.append(f"{warm} warm-started")
    if failed:
        parts.append(f"{failed} failed")
    best = rows[-1]["best_so_far"] if rows else None
    if best is not None:
        parts.append(f"best {name} {best:.4g} (trial {rows[-1]['best_trial_id']})")
    return "Search history: " + ", ".join(parts)


def _draw_history(axes, rows, x_key, direction):
    scored = [row for row in rows if row["score"] is not None]
    curve = [(row[x_key], row["best_so_far"]) for row in rows if row["best_so_far"] is not None]
    if curve:
        xs, ys = zip(*curve)
        axes.step(xs, ys, where="post", color=_BEST, linewidth=2, label="best so far")
    unknown = all(r["warm"] is None for r in rows)
    groups = (
        ("trial" if unknown else "cold start", "o", _COLD, [r for r in scored if not r["warm"]]),
        ("warm start", "^", _WARM, [r for r in scored if r["warm"]]),
    )
    for label, marker, color, group in groups:
        if group:
            axes.scatter(
                [r[x_key] for r in group],
                [r["score"] for r in group],
                marker=marker,
                color=color,
                s=36,
                alpha=0.85,
                label=label,
                zorder=3,
            )
    grew = [r for r in scored if r["grew"]]
    if grew:
        axes.scatter(
            [r[x_key] for r in grew],
            [r["score"] for r in grew],
            marker="o",
            s=140,
            facecolors="none",
            edgecolors="black",
            linewidths=1.2,
            label="grew in training",
            zorder=4,
        )
    if scored:
        best_id = rows[-1]["best_trial_id"]
        best_row = next(r for r in scored if r["trial_id"] == best_id)
        axes.scatter(
            [best_row[x_key]],
            [best_row["score"]],
            marker="*",
            s=260,
            color="gold",
            edgecolors="black",
            label="best trial",
            zorder=5,
        )
    failed = [r for r in rows if r["status"] in ("FAILED", "INVALID")]
    if failed:
        # Failed trials have no score: pin them to the bottom edge in axes coordinates.
        axes.scatter(
            [r[x_key] for r in failed],
            [0.03] * len(failed),
            marker="x",
            color=_FAILED,
            s=50,
            label="failed",
            transform=axes.get_xaxis_transform(),
            zorder=3,
        )
    if not scored and not failed:
        axes.text(0.5, 0.5, "no finished trials", ha="center", va="center",
                  transform=axes.transAxes, color="0.4")


# -- lineage tree ----------------------------------------------------------------------------


def lineage(tuner, path) -> str:
    """Saves a PNG of the warm-start tree: an arrow from each donor to the trial it started.

    Generations go top to bottom (a cold start is generation 0, a trial warm-started from a
    generation-g donor is g + 1); within a generation, trials are placed under their donors so
    that arrows never cross. Each node shows the trial id, its score and its hidden widths (as
    trained, after any growth) when the hyperparameters name them (`num_layers` with `units`
    or `units_i`). Nodes are coloured by score; the best is outlined, failed trials are grey.
    A plain KerasTuner tuner has no lineage: every trial is then drawn as a cold start.

    Args:
        tuner: A `keras_tuner.Tuner`, ideally a `RepairTuner`.
        path: Where to write the PNG; parent folders are created.

    Returns:
        `path`, as a string.

    Raises:
        ImportError: when matplotlib is missing (names the pip extra).
        TypeError: for a `tuner` without an oracle or a `path` that is not a path.

    Example:

    ```python
    kt_nasrepair.plot.lineage(tuner, "plots/lineage.png")
    ```
    """
    path = _check_path(path)
    rows = history_table(tuner)
    oracle = _oracle(tuner)
    positions, depth = tree_layout(rows)
    leaves = max([x for x, _ in positions.values()], default=0) + 1
    scale = min(1.0, 24.0 / max(leaves, 1), 14.0 / max(depth + 1, 1))
    width_in = min(max(6.0, 1.5 * leaves * scale), 40.0)
    height_in = min(max(3.5, 1.3 * (depth + 1) * scale + 1.0), 40.0)
    figure = _figure(width_in, height_in)
    axes = figure.add_subplot(1, 1, 1)
    _draw_tree(axes, rows, positions, _direction(oracle), fontsize=max(8.0 * scale, 4.0))
    axes.set_xlim(-0.7, leaves - 0.3)
    axes.set_ylim(depth + 0.7, -0.7)
    axes.set_axis_off()
    warm = sum(1 for row in rows if row["warm"])
    if all(row["warm"] is None for row in rows):
        title = f"Warm-start lineage: none recorded ({len(rows)} cold trials, plain KerasTuner)"
    else:
        title = (
            f"Warm-start lineage: {len(rows)} trials, {warm} warm-started, "
            f"{depth + 1} generations"
        )
    axes.set_title(f"{title}\nnode: trial id, {_objective_name(oracle)}, hidden widths")
    figure.tight_layout()
    return _save(figure, path)


def tree_layout(rows: list[dict]) -> tuple[dict, int]:
    """Positions for the warm-start tree (pure).

    Args:
        rows: `history_table` rows (uses `trial_id`, `donor`).

    Returns:
        `({trial_id: (x, generation)}, deepest generation)`. Leaves take consecutive x slots in
        depth-first order; a parent sits at the mean x of its children, so edges never cross.
        A donor missing from `rows`, or a cycle, makes the trial a root.
    """
    ids = [row["trial_id"] for row in rows]
    known = set(ids)
    parent = {}
    for row in rows:
        donor = row.get("donor")
        if donor is not None and donor in known and donor != row["trial_id"]:
            parent[row["trial_id"]] = donor
    # Break cycles (corrupt records): walk up, and cut the edge that closes a loop.
    for trial_id in ids:
        seen = {trial_id}
        node = trial_id
        while node in parent:
            if parent[node] in seen:
                del parent[node]
                break
            node = parent[node]
            seen.add(node)
    children = {trial_id: [] for trial_id in ids}
    for trial_id in ids:
        if trial_id in parent:
            children[parent[trial_id]].append(trial_id)
    positions = {}
    next_leaf = [0]
    deepest = [0]

    def place(node, generation):
        deepest[0] = max(deepest[0], generation)
        kids = children[node]
        if not kids:
            x = float(next_leaf[0])
            next_leaf[0] += 1
        else:
            xs = [place(kid, generation + 1) for kid in kids]
            x = (xs[0] + xs[-1]) / 2.0
        positions[node] = (x, generation)
        return x

    for trial_id in ids:
        if trial_id not in parent:
            place(trial_id, 0)
    return positions, deepest[0]


def _node_label(row) -> str:
    lines = [f"#{row['trial_id']}"]
    lines.append(f"{row['score']:.4g}" if row["score"] is not None else str(row["status"]).lower())
    if row["widths"]:
        lines.append(_format_widths(row["widths"]))
    if row["grew"]:
        lines.append("(grew)")
    return "\n".join(lines)


def _format_widths(widths) -> str:
    if len(widths) > 4:
        return f"[{widths[0]}, ..., {widths[-1]}] x{len(widths)}"
    return "[" + ", ".join(str(w) for w in widths) + "]"


def _draw_tree(axes, rows, positions, direction, fontsize):
    from matplotlib import colormaps

    by_id = {row["trial_id"]: row for row in rows}
    scores = [row["score"] for row in rows if row["score"] is not None]
    low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
    colormap = colormaps["YlGn"]
    best_id = rows[-1]["best_trial_id"] if rows else None
    boxes = {}
    for trial_id, (x, generation) in positions.items():
        row = by_id[trial_id]
        if row["score"] is None:
            face = "0.85"
        else:
            fraction = 0.5 if high == low else (row["score"] - low) / (high - low)
            # Darker green is better in either direction; kept light enough for black text.
            face = colormap(0.1 + 0.5 * (fraction if direction == "max" else 1 - fraction))
        edge = "gold" if trial_id == best_id else "black"
        boxes[trial_id] = axes.text(
            x,
            generation,
            _node_label(row),
            ha="center",
            va="center",
            fontsize=fontsize,
            zorder=2,
            bbox=dict(
                boxstyle="round,pad=0.35",
                facecolor=face,
                edgecolor=edge,
                linewidth=3 if trial_id == best_id else 1,
                alpha=0.95,
            ),
        )
    for row in rows:
        donor = row["donor"]
        if row["warm"] and donor in boxes and row["trial_id"] in boxes:
            # Coordinates relative to the label boxes: from the donor's bottom centre to the
            # child's top centre, so arrowheads are never hidden under a tall label.
            axes.annotate(
                "",
                xy=(0.5, 1.0),
                xycoords=boxes[row["trial_id"]],
                xytext=(0.5, 0.0),
                textcoords=boxes[donor],
                arrowprops=dict(arrowstyle="-|>", color="0.35", shrinkA=2, shrinkB=2, lw=1.2),
                zorder=1,
            )
