"""Tests for kt_nasrepair.plot: the history table's numbers and the PNGs' validity."""

import struct
import sys
from types import SimpleNamespace

import keras_tuner
import numpy as np
import pytest

from kt_nasrepair import plot
from kt_nasrepair import report
from kt_nasrepair.hypermodel import DenseHyperModel

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path):
    """(width, height) from the IHDR chunk, which the PNG format puts first."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == PNG_MAGIC, f"not a PNG: {head[:8]!r}"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def assert_sensible_png(path):
    width, height = png_size(path)
    assert width > 200 and height > 200, (width, height)
    size = open(path, "rb").read()
    assert len(size) > 5 * 1024, len(size)


def make_trial(trial_id, score, status="COMPLETED", values=None):
    return SimpleNamespace(
        trial_id=trial_id,
        score=score,
        status=status,
        hyperparameters=SimpleNamespace(values=values or {}),
    )


def make_tuner(trials, direction="max", name="val_accuracy", lineage=None, start_order=None):
    oracle = SimpleNamespace(
        trials={t.trial_id: t for t in trials},
        objective=SimpleNamespace(name=name, direction=direction),
    )
    if start_order is not None:
        oracle.start_order = start_order
    tuner = SimpleNamespace(oracle=oracle, project_dir="/nonexistent")
    if lineage is not None:
        tuner.lineage = lambda: lineage
    return tuner


def record(donor=None, train_seconds=None, started_at=None, ended_at=None, growth=None):
    return {
        "donor": donor,
        "ops": [] if donor is None else ["widen dense_0 32->64"],
        "reason": None if donor is not None else "first trial",
        "growth": growth or [],
        "transfer_seconds": None,
        "max_deviation": None,
        "started_at": started_at,
        "train_seconds": train_seconds,
        "ended_at": ended_at,
    }


@pytest.fixture
def repair_like_tuner():
    """Six trials: cold root, warm children (one grew), a failed trial, a grandchild."""
    trials = [
        make_trial("00", 0.80, values={"num_layers": 1, "units": 32}),
        make_trial("01", 0.85, values={"num_layers": 2, "units_0": 64, "units_1": 32}),
        make_trial("02", 0.83, values={"num_layers": 1, "units": 48}),
        make_trial("03", None, status="FAILED", values={"num_layers": 3, "units": 16}),
        make_trial("04", 0.90, values={"num_layers": 2, "units": 64}),
        make_trial("05", 0.88, values={"learning_rate": 0.01}),
    ]
    growth = [{"epoch": 2, "ops": ["widen"], "widths_before": [48], "widths_after": [96]}]
    lineage = {
        "00": record(train_seconds=10.0),
        "01": record(donor="00", train_seconds=4.0),
        "02": record(donor="00", started_at=100.0, ended_at=106.5, growth=growth),
        "03": record(donor="01"),
        "04": record(donor="01", train_seconds=5.0),
        "05": record(donor="04", train_seconds=2.5),
    }
    return make_tuner(trials, lineage=lineage)


def test_history_table_best_so_far_is_monotone_and_tracks_best_trial(repair_like_tuner):
    rows = plot.history_table(repair_like_tuner)
    assert [r["trial_id"] for r in rows] == ["00", "01", "02", "03", "04", "05"]
    assert [r["order"] for r in rows] == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(
        [r["best_so_far"] for r in rows], [0.80, 0.85, 0.85, 0.85, 0.90, 0.90]
    )
    assert [r["best_trial_id"] for r in rows] == ["00", "01", "01", "01", "04", "04"]
    assert np.all(np.diff([r["best_so_far"] for r in rows]) >= 0)


def test_history_table_cumulative_seconds_sum_known_times(repair_like_tuner):
    rows = plot.history_table(repair_like_tuner)
    # 02's wall time ended_at - started_at = 6.5 (the others only have train_seconds); the
    # failed 03 has no time at all.
    assert [r["seconds"] for r in rows] == [10.0, 4.0, 6.5, None, 5.0, 2.5]
    np.testing.assert_allclose(
        [r["cumulative_seconds"] for r in rows], [10.0, 14.0, 20.5, 20.5, 25.5, 28.0]
    )


def test_history_table_durations_override_lineage_times(repair_like_tuner):
    rows = plot.history_table(repair_like_tuner, durations={"00": 1.0, "03": 2.0})
    np.testing.assert_allclose(
        [r["cumulative_seconds"] for r in rows], [1.0, 5.0, 11.5, 13.5, 18.5, 21.0]
    )


def test_history_table_warm_donor_growth_and_widths(repair_like_tuner):
    rows = {r["trial_id"]: r for r in plot.history_table(repair_like_tuner)}
    assert [rows[i]["warm"] for i in sorted(rows)] == [False, True, True, True, True, True]
    assert rows["04"]["donor"] == "01" and rows["00"]["donor"] is None
    assert rows["02"]["grew"] and not rows["01"]["grew"]
    assert rows["00"]["widths"] == [32]
    assert rows["01"]["widths"] == [64, 32]
    assert rows["02"]["widths"] == [96]  # as trained: after growth
    assert rows["05"]["widths"] is None  # no width hyperparameters
    assert rows["03"]["score"] is None and rows["03"]["status"] == "FAILED"


def test_history_table_respects_min_direction():
    trials = [make_trial(i, s) for i, s in [("0", 0.5), ("1", 0.7), ("2", 0.3), ("3", 0.4)]]
    rows = plot.history_table(make_tuner(trials, direction="min", name="val_loss"))
    np.testing.assert_allclose([r["best_so_far"] for r in rows], [0.5, 0.5, 0.3, 0.3])
    assert rows[-1]["best_trial_id"] == "2"


def test_history_table_without_lineage_has_no_times_or_warm_marks():
    trials = [
        make_trial("1", 0.2),
        make_trial("0", 0.1),
        make_trial("10", 0.3),
        make_trial("2", float("nan")),
    ]
    rows = plot.history_table(make_tuner(trials))
    assert [r["trial_id"] for r in rows] == ["0", "1", "2", "10"]  # numeric order
    assert all(r["cumulative_seconds"] is None and r["warm"] is None for r in rows)
    assert rows[2]["score"] is None  # a NaN score is not a score
    np.testing.assert_allclose([r["best_so_far"] for r in rows], [0.1, 0.2, 0.2, 0.3])


def test_history_table_reads_hyperband_parent_links_without_lineage(tmp_path):
    trials = [
        make_trial("0", 0.5, values={"tuner/epochs": 2}),
        make_trial("1", 0.6, values={"tuner/epochs": 2}),
        make_trial("2", 0.7, values={"tuner/epochs": 6, "tuner/trial_id": "1"}),
    ]
    tuner = make_tuner(trials)
    rows = plot.history_table(tuner)
    assert [r["warm"] for r in rows] == [False, False, True]
    assert rows[2]["donor"] == "1"
    assert all(r["cumulative_seconds"] is None for r in rows)
    positions, deepest = plot.tree_layout(rows)
    assert deepest == 1 and positions["2"] == (positions["1"][0], 1)
    assert_sensible_png(plot.lineage(tuner, tmp_path / "hb.png"))


def test_history_table_rejects_non_tuner():
    with pytest.raises(TypeError, match="`tuner` must be a KerasTuner tuner.*Received: tuner=42"):
        plot.history_table(42)


def test_tree_layout_generations_and_parent_centering(repair_like_tuner):
    positions, deepest = plot.tree_layout(plot.history_table(repair_like_tuner))
    assert deepest == 3
    assert {k: g for k, (_, g) in positions.items()} == {
        "00": 0, "01": 1, "02": 1, "03": 2, "04": 2, "05": 3,
    }
    # Leaves 03, 05, 02 in depth-first order; parents centred over their children.
    assert positions["03"][0] == 0.0 and positions["05"][0] == 1.0 and positions["02"][0] == 2.0
    assert positions["04"][0] == 1.0
    assert positions["01"][0] == 0.5
    assert positions["00"][0] == 1.25


def test_tree_layout_survives_cycles_and_unknown_donors():
    rows = [
        {"trial_id": "a", "donor": "b"},
        {"trial_id": "b", "donor": "a"},
        {"trial_id": "c", "donor": "zz"},
    ]
    positions, deepest = plot.tree_layout(rows)
    assert set(positions) == {"a", "b", "c"}
    assert deepest == 1
    assert positions["c"][1] == 0


def test_search_history_and_lineage_write_valid_pngs(repair_like_tuner, tmp_path):
    out = plot.search_history(repair_like_tuner, tmp_path / "sub" / "history.png")
    assert out == str(tmp_path / "sub" / "history.png")
    assert_sensible_png(out)
    out = plot.lineage(repair_like_tuner, str(tmp_path / "lineage.png"))
    assert_sensible_png(out)


def test_plots_for_min_direction_and_empty_search(tmp_path):
    trials = [make_trial("0", 0.5), make_trial("1", None, status="FAILED"), make_trial("2", 0.3)]
    tuner = make_tuner(trials, direction="min", name="val_loss", lineage={})
    assert_sensible_png(plot.search_history(tuner, tmp_path / "h.png"))
    assert_sensible_png(plot.lineage(tuner, tmp_path / "l.png"))
    empty = make_tuner([])
    assert png_size(plot.search_history(empty, tmp_path / "e.png"))[0] > 200
    assert png_size(plot.lineage(empty, tmp_path / "el.png"))[0] > 200


def test_plot_rejects_bad_path(repair_like_tuner):
    with pytest.raises(TypeError, match="`path` must be a str or os.PathLike. Received: path=3"):
        plot.search_history(repair_like_tuner, 3)


def test_missing_matplotlib_names_the_extra(repair_like_tuner, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match=r"pip install 'kt-nasrepair\[examples\]'"):
        plot.search_history(repair_like_tuner, tmp_path / "x.png")


def test_plots_do_not_touch_pyplot_state(repair_like_tuner, tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    plot.search_history(repair_like_tuner, tmp_path / "h.png")
    plot.lineage(repair_like_tuner, tmp_path / "l.png")
    assert matplotlib.get_backend() == backend
    if "matplotlib.pyplot" in sys.modules:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_real_random_search_without_lineage(digits_data, tmp_path):
    (x_train, y_train), (x_val, y_val) = digits_data
    hypermodel = DenseHyperModel(
        input_shape=(64,), num_classes=10, num_layers=(1, 2), units=(8, 32, 8)
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective="val_accuracy",
        max_trials=2,
        seed=1,
        directory=str(tmp_path),
        project_name="rs",
    )
    tuner.search(x_train[:400], y_train[:400], validation_data=(x_val, y_val), epochs=1,
                 batch_size=64, verbose=0)
    rows = plot.history_table(tuner)
    assert len(rows) == 2 and all(r["status"] == "COMPLETED" for r in rows)
    assert all(r["warm"] is None and r["cumulative_seconds"] is None for r in rows)
    best = tuner.oracle.get_best_trials(1)[0]
    np.testing.assert_allclose(rows[-1]["best_so_far"], best.score)
    for row in rows:
        values = tuner.oracle.trials[row["trial_id"]].hyperparameters.values
        assert row["widths"] == [values[f"units_{i}"] for i in range(values["num_layers"])]
    assert_sensible_png(plot.search_history(tuner, tmp_path / "history.png"))
    assert_sensible_png(plot.lineage(tuner, tmp_path / "lineage.png"))


# -- the one table: what the plots, the text report and the progress line read -------------


def test_plots_draw_the_report_table():
    assert plot.history_table is report.trial_table


def test_table_follows_the_oracle_start_order_then_numeric_ids():
    trials = [make_trial(i, 0.1) for i in ("0", "1", "2", "10", "11")]
    # A resumed directory: "11" and "2" started before "0"; "1" and "10" are not listed.
    rows = report.trial_table(make_tuner(trials, start_order=["11", "2", "0", "2", "99"]))
    assert [r["trial_id"] for r in rows] == ["11", "2", "0", "1", "10"]
    assert [r["order"] for r in rows] == [1, 2, 3, 4, 5]


def test_table_time_is_the_records_wall_time_else_its_train_seconds():
    assert report.record_seconds(record(train_seconds=3.0, started_at=10.0, ended_at=15.5)) == 5.5
    assert report.record_seconds(record(train_seconds=3.0)) == 3.0
    assert report.record_seconds(record(started_at=10.0)) is None  # killed: no end
    assert report.record_seconds(None) is None


def test_table_architecture_and_origin_columns(repair_like_tuner):
    rows = {r["trial_id"]: r for r in report.trial_table(repair_like_tuner)}
    assert rows["00"]["architecture"] == "1 x 32" and rows["01"]["architecture"] == "64-32"
    assert rows["05"]["architecture"] == "learning_rate=0.01"
    assert rows["00"]["origin"] == "cold" and rows["04"]["origin"] == "warm"
    assert rows["01"]["values"] == {"num_layers": 2, "units_0": 64, "units_1": 32}


def test_table_marks_continued_hyperband_trials_with_and_without_records():
    trials = [make_trial("0", 0.5, values={"tuner/epochs": 2}),
              make_trial("1", 0.6, values={"tuner/epochs": 6, "tuner/trial_id": "0"})]
    plain = report.trial_table(make_tuner(trials))
    # with_repair(Hyperband): a continued trial has no donor of its own in its record.
    repaired = report.trial_table(make_tuner(trials, lineage={"0": record(), "1": record()}))
    for rows in (plain, repaired):
        assert [(r["origin"], r["donor"], r["warm"]) for r in rows] == [
            ("cold", None, False), ("continues", "0", True)]


def test_results_table_reads_the_table_in_start_order(repair_like_tuner):
    repair_like_tuner.oracle.start_order = ["01", "00"]
    lines = report.results_table(repair_like_tuner, extra_columns={"donor": {"01": "00"}})
    lines = lines.splitlines()
    # Columns in the order they first appear, the first row's first.
    assert lines[0].split() == ["trial_id", "status", "score", "num_layers", "units_0",
                                "units_1", "donor", "units", "learning_rate"]
    assert set(lines[1]) == {"-", " "}
    assert [line.split()[0] for line in lines[2:]] == ["01", "00", "02", "03", "04", "05"]
    assert lines[2].split() == ["01", "COMPLETED", "0.85", "2", "64", "32", "00"]
    assert lines[5].split()[:3] == ["03", "FAILED", "None"]
    assert all(line == line.rstrip() for line in lines)
