"""Warm children against cold trials of the same size, from `search_efficiency.py`'s records.

For every warm trial of a run (a trial with a donor) the analysis looks up its donor's widths
and score in the same run, and compares the child's validation accuracy with the median of
the cold trials of the same size (every run of the same space, any method; "same size": a
hidden-parameter count within a factor `SIZE_FACTOR`). It also tabulates the children by their
bottleneck ratio, the target's narrowest hidden layer over the donor's, the quantity
`kt_nasrepair.repair.donors.MAX_BOTTLENECK_RATIO` bounds.

    KT_NASREPAIR_OFFLINE=1 python benchmarks/search_efficiency.py --spaces seed \\
        --methods repair_entropy kt_random --seeds 5 --max-trials 12 --epochs 3 --out results/donors
    python benchmarks/donor_choice.py results/donors/search_efficiency.json
"""

from __future__ import annotations

import argparse
import json
import statistics

# NOTE: trials whose hidden-parameter counts differ by at most this factor count as the same
# size; in the seed space (784 inputs) that is roughly the same width, any depth.
SIZE_FACTOR = 1.5
INPUTS, OUTPUTS = 784, 10


def widths(values: dict) -> list[int]:
    """Hidden widths from a DenseHyperModel trial's values (shared `units` or `units_i`)."""
    depth = int(values["num_layers"])
    if "units" in values:
        return [int(values["units"])] * depth
    return [int(values[f"units_{i}"]) for i in range(depth)]


def hidden_parameters(hidden: list[int], inputs: int = INPUTS, outputs: int = OUTPUTS) -> int:
    sizes = [inputs, *hidden, outputs]
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def warm_vs_cold(runs: list, size_factor: float = SIZE_FACTOR) -> list[dict]:
    """One row per warm child that has cold trials of the same size.

    Args:
        runs: `search_efficiency.json`'s `runs` (one space).
        size_factor: Same-size tolerance on the hidden-parameter count.

    Returns:
        Dicts with `child`, `donor` (widths), `donor_score`, `score`, `cold_median`, `delta`
        (score minus cold median), `ratio` (min target width / min donor width), `seconds`
        and `cold_seconds` (median of the same-size cold trials).
    """
    cold = []
    for run in runs:
        for t in run["trials"]:
            if t.get("status") == "COMPLETED" and t.get("donor") is None and t.get("values"):
                cold.append((hidden_parameters(widths(t["values"])), t))
    rows = []
    for run in runs:
        by_id = {t["trial_id"]: t for t in run["trials"]}
        for t in run["trials"]:
            donor = by_id.get(t.get("donor"))
            if donor is None or t.get("status") != "COMPLETED" or t.get("val_accuracy") is None:
                continue
            child_widths, donor_widths = widths(t["values"]), widths(donor["values"])
            size = hidden_parameters(child_widths)
            same = [c for p, c in cold
                    if size / size_factor <= p <= size * size_factor and c is not t]
            if not same:
                continue
            cold_median = statistics.median(c["val_accuracy"] for c in same)
            rows.append({
                "child": child_widths, "donor": donor_widths,
                "donor_score": donor.get("val_accuracy"), "score": t["val_accuracy"],
                "cold_median": cold_median, "delta": t["val_accuracy"] - cold_median,
                "ratio": min(child_widths) / min(donor_widths),
                "seconds": t["seconds"],
                "cold_seconds": statistics.median(c["seconds"] for c in same),
            })
    return rows


def summary(rows: list, runs: list) -> dict:
    """Median delta, share of children below their cold median, time per trial, warm share."""
    trials = [t for run in runs if run["method"].startswith("repair") for t in run["trials"]]
    warm = sum(1 for t in trials if t.get("donor") is not None)
    return {
        "warm_children": len(rows),
        "warm_share": warm / len(trials) if trials else float("nan"),
        "median_delta": statistics.median(r["delta"] for r in rows) if rows else float("nan"),
        "share_below_cold": (sum(r["delta"] < 0 for r in rows) / len(rows)) if rows
        else float("nan"),
        "median_seconds_warm": statistics.median(r["seconds"] for r in rows) if rows
        else float("nan"),
        "median_seconds_cold_same_size": statistics.median(r["cold_seconds"] for r in rows)
        if rows else float("nan"),
    }


def by_ratio(rows: list, edges=(1, 2, 4, 10)) -> list[tuple]:
    """(bucket, count, median delta) for bottleneck ratios in (edges[i-1], edges[i]]."""
    out, low = [], 0
    for high in edges:
        bucket = [r["delta"] for r in rows if low < r["ratio"] <= high]
        out.append((f"({low:g}, {high:g}]", len(bucket),
                    statistics.median(bucket) if bucket else float("nan")))
        low = high
    bucket = [r["delta"] for r in rows if r["ratio"] > low]
    out.append((f"> {low:g}", len(bucket), statistics.median(bucket) if bucket else float("nan")))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="search_efficiency.json file(s)")
    args = parser.parse_args(argv)
    for path in args.results:
        with open(path) as f:
            runs = json.load(f)["runs"]
        rows = warm_vs_cold(runs)
        print(path)
        print(json.dumps(summary(rows, runs), indent=1))
        print("bottleneck ratio | children | median delta")
        for bucket, count, delta in by_ratio(rows):
            print(f"{bucket} | {count} | {delta:+.3f}")
        for r in sorted(rows, key=lambda r: r["delta"])[:5]:
            print("worst:", r["donor"], "->", r["child"], f"donor {r['donor_score']:.3f}",
                  f"child {r['score']:.3f} cold {r['cold_median']:.3f}")


if __name__ == "__main__":
    main()
