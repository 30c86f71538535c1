"""benchmarks/shape_stable_agreement.py: its summary of the mode's effect against seed noise."""

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import shape_stable_agreement as bench  # noqa: E402


def test_summary_compares_the_mode_with_the_seed_noise():
    rows = [{"values": {}, "compact": 0.80, "padded": 0.80, "compact_next_seed": 0.70},
            {"values": {}, "compact": 0.50, "padded": 0.52, "compact_next_seed": 0.60},
            {"values": {}, "compact": 0.90, "padded": 0.90, "compact_next_seed": 0.95}]
    summary = bench.summarize({"backend": "jax", "rows": rows})
    assert summary["identical"] == 2 and summary["configs"] == 3
    assert summary["mode_median"] == 0.0 and summary["mode_max"] == pytest.approx(0.02)
    assert summary["noise_median"] == pytest.approx(0.10)
    assert summary["mean_padded_minus_compact"] == pytest.approx(0.02 / 3)
