"""PNGs of a search: the best-so-far curve and the warm-start tree.

Both draw `kt_nasrepair.report.trial_table` rows for any KerasTuner tuner. matplotlib is optional
(`pip install 'kt-nasrepair[examples]'`); figures are never pyplot's, so its state is untouched.
"""

from __future__ import annotations

import os

from kt_nasrepair.report import objective, trial_table

history_table = trial_table  # the rows the plots draw

_COLD, _WARM, _FAILED, _BEST = "#1f77b4", "#ff7f0e", "#d62728", "#2ca02c"
_FAILED_STATUSES = ("FAILED", "INVALID")


def _figure(path, width_in: float, height_in: float):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike. Received: path={path!r}")
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError("kt_nasrepair.plot needs matplotlib. Install it with: "
                          "pip install 'kt-nasrepair[examples]'") from error
    path = os.fspath(path)
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    return path, Figure(figsize=(width_in, height_in), dpi=100, layout="constrained")


def _note(axes, text):
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="0.4")


def search_history(tuner, path, durations: dict | None = None) -> str:
    """Saves a PNG of the best objective so far against trial time (left) and number (right).

    Args:
        tuner: A `keras_tuner.Tuner` (a `RepairTuner` adds warm/cold marks and times).
        path: Where to write the PNG; parent folders are created.
        durations: Optional `{trial_id: seconds}`, e.g. `tuner.progress.durations`.

    Returns:
        `path`, as a string.

    Raises:
        ImportError: when matplotlib is missing (names the pip extra).
        TypeError: for a `tuner` without an oracle or a `path` that is not a path.
    """
    rows = history_table(tuner, durations=durations)
    path, figure = _figure(path, 12.0, 4.8)
    name, direction = objective(tuner.oracle)
    time_axes, trial_axes = figure.subplots(1, 2)
    if rows and rows[0]["cumulative_seconds"] is not None:
        _draw_history(time_axes, rows, "cumulative_seconds")
        time_axes.set_xlabel("cumulative trial time (s)")
    else:
        _note(time_axes, "no trial times recorded\n(use RepairTuner, or pass durations=)")
        time_axes.set_xticks([])
        time_axes.set_yticks([])
    _draw_history(trial_axes, rows, "order")
    trial_axes.set_xlabel("trial number")
    trial_axes.xaxis.get_major_locator().set_params(integer=True)
    for axes in (time_axes, trial_axes):
        axes.set_ylabel(f"{name} ({'higher' if direction == 'max' else 'lower'} is better)")
        axes.grid(True, alpha=0.3)
    if trial_axes.get_legend_handles_labels()[0]:
        trial_axes.legend(loc="best", fontsize="small")
    failed = sum(row["status"] in _FAILED_STATUSES for row in rows)
    parts = [f"{len(rows)} trials"]
    if any(row["warm"] is not None for row in rows):
        parts.append(f"{sum(bool(row['warm']) for row in rows)} warm-started")
    parts += [f"{failed} failed"] if failed else []
    if rows and rows[-1]["best_so_far"] is not None:
        parts.append(f"best {name} {rows[-1]['best_so_far']:.4g} "
                     f"(trial {rows[-1]['best_trial_id']})")
    figure.suptitle("Search history: " + ", ".join(parts))
    figure.savefig(path, format="png")
    return path


def _draw_history(axes, rows, x_key):
    scored = [row for row in rows if row["score"] is not None]
    curve = [(row[x_key], row["best_so_far"]) for row in rows if row["best_so_far"] is not None]
    if curve:
        axes.step(*zip(*curve), where="post", color=_BEST, linewidth=2, label="best so far")
    best_id = rows[-1]["best_trial_id"] if rows else None
    point = dict(s=36, alpha=0.85, zorder=3)
    marks = (  # label, rows, style
        ("trial" if all(r["warm"] is None for r in rows) else "cold start",
         [r for r in scored if not r["warm"]], dict(point, marker="o", color=_COLD)),
        ("warm start", [r for r in scored if r["warm"]], dict(point, marker="^", color=_WARM)),
        ("grew in training", [r for r in scored if r["grew"]],
         dict(marker="o", s=140, facecolors="none", edgecolors="black", linewidths=1.2, zorder=4)),
        ("best trial", [r for r in scored if r["trial_id"] == best_id],
         dict(marker="*", s=260, color="gold", edgecolors="black", zorder=5)),
    )
    for label, group, style in marks:
        if group:
            axes.scatter([r[x_key] for r in group], [r["score"] for r in group], label=label,
                         **style)
    failed = [row[x_key] for row in rows if row["status"] in _FAILED_STATUSES]
    if failed:  # no score: pinned near the bottom edge (y in axes coordinates)
        axes.scatter(failed, [0.03] * len(failed), marker="x", color=_FAILED, s=50,
                     label="failed", transform=axes.get_xaxis_transform(), zorder=3)
    if not scored and not failed:
        _note(axes, "no finished trials")


def lineage(tuner, path) -> str:
    """Saves a PNG of the warm-start tree: an arrow from each donor to the trial it started.

    Args:
        tuner: A `keras_tuner.Tuner`, ideally a `RepairTuner` (a plain one's trials are roots).
        path: Where to write the PNG; parent folders are created.

    Returns:
        `path`, as a string.

    Raises:
        ImportError: when matplotlib is missing; TypeError: as `search_history`.
    """
    rows = history_table(tuner)
    positions, depth = tree_layout(rows)
    leaves = max([x for x, _ in positions.values()], default=0) + 1
    scale = min(1.0, 24.0 / leaves, 14.0 / (depth + 1))
    path, figure = _figure(path, min(max(6.0, 1.5 * leaves * scale), 40.0),
                           min(max(3.5, 1.3 * (depth + 1) * scale + 1.0), 40.0))
    axes = figure.add_subplot()
    name, direction = objective(tuner.oracle)
    _draw_tree(axes, rows, positions, direction, fontsize=max(8.0 * scale, 4.0))
    axes.set_xlim(-0.7, leaves - 0.3)
    axes.set_ylim(depth + 0.7, -0.7)
    axes.set_axis_off()
    if all(row["warm"] is None for row in rows):
        title = f"Warm-start lineage: none recorded ({len(rows)} cold trials, plain KerasTuner)"
    else:
        title = (f"Warm-start lineage: {len(rows)} trials, "
                 f"{sum(bool(row['warm']) for row in rows)} warm-started, {depth + 1} generations")
    axes.set_title(f"{title}\nnode: trial id, {name}, hidden widths")
    figure.savefig(path, format="png")
    return path


def tree_layout(rows: list[dict]) -> tuple[dict, int]:
    """`({trial_id: (x, generation)}, deepest generation)` of the warm-start tree (pure).

    Leaves take consecutive x slots depth-first and a parent sits at the mean x of its
    children, so edges never cross; a donor missing from `rows`, or a cycle, makes a root.
    """
    ids = [row["trial_id"] for row in rows]
    known = set(ids)
    parent = {row["trial_id"]: row["donor"] for row in rows
              if row.get("donor") in known and row["donor"] != row["trial_id"]}
    for trial_id in ids:  # cut the edge that closes a loop (corrupt records)
        seen, node = {trial_id}, trial_id
        while node in parent:
            if parent[node] in seen:
                del parent[node]
                break
            node = parent[node]
            seen.add(node)
    children = {trial_id: [] for trial_id in ids}
    for child, donor in parent.items():
        children[donor].append(child)
    positions, leaves = {}, [0]

    def place(node, generation):
        xs = [place(kid, generation + 1) for kid in children[node]]
        if xs:
            x = (xs[0] + xs[-1]) / 2.0
        else:
            x, leaves[0] = float(leaves[0]), leaves[0] + 1
        positions[node] = (x, generation)
        return x

    for trial_id in ids:
        if trial_id not in parent:
            place(trial_id, 0)
    return positions, max([g for _, g in positions.values()], default=0)


def _node_label(row) -> str:
    widths = row["widths"]
    lines = [f"#{row['trial_id']}",
             f"{row['score']:.4g}" if row["score"] is not None else str(row["status"]).lower()]
    if widths:
        lines.append(f"[{widths[0]}, ..., {widths[-1]}] x{len(widths)}" if len(widths) > 4
                     else str(list(widths)))
    return "\n".join(lines + (["(grew)"] if row["grew"] else []))


def _draw_tree(axes, rows, positions, direction, fontsize):
    from matplotlib import colormaps

    by_id = {row["trial_id"]: row for row in rows}
    scores = [row["score"] for row in rows if row["score"] is not None]
    low, high = (min(scores), max(scores)) if scores else (0.0, 1.0)
    best_id = rows[-1]["best_trial_id"] if rows else None
    boxes = {}
    for trial_id, (x, generation) in positions.items():
        row, face = by_id[trial_id], "0.85"
        if row["score"] is not None:
            fraction = 0.5 if high == low else (row["score"] - low) / (high - low)
            # Darker green is better in either direction; kept light enough for black text.
            face = colormaps["YlGn"](0.1 + 0.5 * (fraction if direction == "max" else 1 - fraction))
        best = trial_id == best_id
        boxes[trial_id] = axes.text(
            x, generation, _node_label(row), ha="center", va="center", fontsize=fontsize,
            zorder=2, bbox=dict(boxstyle="round,pad=0.35", facecolor=face, alpha=0.95,
                                edgecolor="gold" if best else "black", linewidth=3 if best else 1))
    for row in rows:
        if row["warm"] and row["donor"] in boxes and row["trial_id"] in boxes:
            # Donor box's bottom centre to the child's top centre: no arrowhead under a label.
            axes.annotate("", xy=(0.5, 1.0), xycoords=boxes[row["trial_id"]], xytext=(0.5, 0.0),
                          textcoords=boxes[row["donor"]], zorder=1,
                          arrowprops=dict(arrowstyle="-|>", color="0.35", shrinkA=2, shrinkB=2,
                                          lw=1.2))
