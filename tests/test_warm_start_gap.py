"""benchmarks/warm_start_gap.py: its `--quick` settings and its whole code path on a tiny run."""

from __future__ import annotations

import json
import math
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
try:
    import warm_start_gap
finally:
    sys.path.pop(0)


def test_quick_settings_are_the_documented_ones_and_flags_win():
    args = warm_start_gap.parse_args(["--quick"])
    assert (args.datasets, args.seeds) == (["digits"], 2)
    assert args.pairs == ["seed 2x4->3x8", "widen 2x64->2x128"]
    assert (args.donor_epochs, args.child_epochs) == (5, 2)
    assert args.options == list(warm_start_gap.OPTIONS)
    args = warm_start_gap.parse_args(["--quick", "--seeds", "1", "--datasets", "mnist-5k"])
    assert (args.datasets, args.seeds) == (["mnist-5k"], 1)
    full = warm_start_gap.parse_args([])
    assert (full.datasets, full.seeds, full.pairs) == (
        ["mnist-5k", "digits"], 5, list(warm_start_gap.PAIRS))


def test_bad_budget_is_refused():
    with pytest.raises(SystemExit):
        warm_start_gap.parse_args(["--child-epochs", "0"])


@pytest.mark.slow
def test_tiny_run_writes_consistent_json_and_table(tmp_path, capsys):
    options = ["warm", "warm+cosine", "sp(0.4,0.1)", "cold k", "cold D", "cold D+k"]
    warm_start_gap.main(["--datasets", "digits", "--pairs", "widen 2x64->2x128",
                         "--seeds", "1", "--donor-epochs", "2", "--child-epochs", "1",
                         "--options", *options, "--out", str(tmp_path)])
    data = json.loads((tmp_path / "warm_start_gap.json").read_text())
    assert data["settings"]["donor_epochs"] == 2 and data["settings"]["child_epochs"] == 1
    (run,) = data["runs"]
    assert run["ops"] == ["widen dense_0 64->128", "widen dense_1 64->128"]
    assert run["max_deviation"] < 1e-4  # the warm child started at its donor's function
    assert set(run["options"]) == set(options)
    expected_epochs = {"cold D": 2, "cold D+k": 3}
    for option, result in run["options"].items():
        assert result["epochs_run"] == expected_epochs.get(option, 1), option
        assert 0.0 < result["test_accuracy"] <= 1.0 and 0.0 < result["val_accuracy"] <= 1.0
        assert math.isfinite(result["seconds"]) and result["seconds"] > 0
    # Warm children start from a donor that already learnt; one epoch cold cannot match it.
    assert run["options"]["warm"]["test_accuracy"] > run["options"]["cold k"]["test_accuracy"]
    rows = {row["option"]: row for row in data["summary"]}
    assert rows["warm"]["wins_vs_warm"] == 0.5 and rows["warm"]["gap_test_vs_warm"] == 0.0
    assert rows["cold D+k"]["gap_test_vs_cold_Dk"] == 0.0
    gap = rows["warm"]["gap_test_vs_cold_Dk"]
    assert gap == pytest.approx(run["options"]["warm"]["test_accuracy"]
                                - run["options"]["cold D+k"]["test_accuracy"])
    table = (tmp_path / "warm_start_gap.md").read_text()
    summary_rows = [line for line in table.splitlines() if line.startswith("| digits | ")
                    and line.split("|")[2].strip() in options]
    assert len(summary_rows) == len(options)
    assert f"{100 * gap:+.1f}" in next(r for r in summary_rows if "| warm |" in r)
    # --report re-summarises the JSON into the same table, training nothing.
    warm_start_gap.main(["--report", str(tmp_path / "warm_start_gap.json"),
                         "--out", str(tmp_path / "again")])
    assert (tmp_path / "again" / "warm_start_gap.md").read_text() == table
