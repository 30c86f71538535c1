"""benchmarks/donor_choice.py and memory_growth.py: the analyses on hand-made records."""

from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
try:
    import donor_choice
    import memory_growth
finally:
    sys.path.pop(0)


def _trial(trial_id, layers, units, score, donor=None, seconds=1.0):
    return {"trial_id": trial_id, "status": "COMPLETED", "val_accuracy": score, "donor": donor,
            "seconds": seconds, "values": {"num_layers": layers, "units": units}}


def test_warm_children_are_compared_with_cold_trials_of_their_size():
    runs = [{"method": "repair_entropy", "trials": [
        _trial("00", 1, 1, 0.22),
        _trial("01", 1, 10, 0.58, donor="00", seconds=0.5),  # the bottleneck child
        _trial("02", 1, 9, 0.80),
        _trial("03", 2, 10, 0.90, donor="02", seconds=0.5),
    ]}, {"method": "kt_random", "trials": [_trial("00", 1, 10, 0.70, seconds=2.0)]}]
    rows = {tuple(r["child"]): r for r in donor_choice.warm_vs_cold(runs)}
    bottleneck = rows[(10,)]
    assert bottleneck["donor"] == [1] and bottleneck["ratio"] == 10
    # Same size as 1 x 10: the cold 1 x 9 (0.80) and 1 x 10 (0.70).
    assert bottleneck["cold_median"] == pytest.approx(0.75)
    assert bottleneck["delta"] == pytest.approx(-0.17)
    buckets = dict((b, (n, d)) for b, n, d in donor_choice.by_ratio(list(rows.values())))
    assert buckets["(4, 10]"][0] == 1
    summary = donor_choice.summary(list(rows.values()), runs)
    assert summary["warm_share"] == pytest.approx(0.5)


def test_memory_slope_skips_the_first_quarter():
    values = [100, 150, 160, 170] + [200 + 0.5 * i for i in range(12)]
    assert memory_growth.slope_after_warmup(values) == pytest.approx(0.5)
