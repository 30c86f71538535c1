"""benchmarks/trial_overhead.py: the split of a trial's time, its summary and one tiny run."""

import os
import sys

import keras
import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
import trial_overhead as bench  # noqa: E402


def _record(wall, epochs, **charges):
    return {"wall": wall, "epochs": epochs, "charges": charges}


def test_split_takes_first_epoch_excess_as_trace_and_rest_as_remainder():
    record = _record(3.0, [[1.0, 0.2], [0.4, 0.1], [0.4, 0.1]], build=0.5, checkpoint=0.1,
                     oracle=0.05, epoch_train=1.8, epoch_validation=0.4)
    parts = bench.split_trial(record)
    np.testing.assert_allclose(parts["steady_train"], 1.2)
    np.testing.assert_allclose(parts["validation"], 0.3)
    np.testing.assert_allclose(parts["trace_compile"], 0.6 + 0.1)
    np.testing.assert_allclose(parts["build"], 0.5)
    np.testing.assert_allclose(parts["checkpoint_io"], 0.1)
    # "oracle" is not a category: it stays in the rest with what nothing measured.
    np.testing.assert_allclose(parts["rest"], 3.0 - 1.2 - 0.3 - 0.7 - 0.5 - 0.1)
    np.testing.assert_allclose(sum(parts.values()), 3.0)


def _run(tuner, outside_parts, rep=0, values=None):
    trials = []
    for i, wall in enumerate(outside_parts):
        categories = dict.fromkeys(bench.CATEGORIES, 0.0)
        categories.update(steady_train=1.0, rest=wall)
        trials.append({"trial_id": str(i), "values": values or {"u": i}, "status": "COMPLETED",
                       "wall": wall + 1.0, "categories": categories})
    return {"backend": "tensorflow", "tuner": tuner, "rep": rep, "label": f"cold_{rep}",
            "trials": trials, "search_seconds": 0.0}


def test_summary_ratio_is_whole_search_outside_time_against_baseline():
    runs = [_run("kt_random", [2.0, 4.0], rep=0), _run("repair", [1.0, 1.0], rep=0),
            _run("kt_random", [3.0, 3.0], rep=1), _run("repair", [3.0, 3.0], rep=1)]
    summary = bench.summarize(runs)["tensorflow"]
    ratio = summary["repair"]["outside_ratio_to_baseline"]
    assert (ratio["min"], ratio["max"]) == pytest.approx((2.0 / 6.0, 1.0))
    assert summary["kt_random"]["outside"]["median"] == pytest.approx(3.0)
    table = bench.markdown(bench.summarize(runs), {"repeats": 2, "dataset": "x", "max_trials": 2,
                                                   "epochs": 1, "batch_size": 4})
    assert "| ratio to kt_random (outside, whole search) | 1 | 0.667 (0.333-1.000) |" in table


def test_runs_on_other_configurations_are_refused():
    with pytest.raises(RuntimeError, match="tried other configurations"):
        bench.check_same_configurations(
            [_run("kt_random", [1.0]), _run("repair", [1.0], values={"u": 9})]
        )


@pytest.mark.slow
def test_tiny_search_is_split_for_both_tuners_on_the_same_configurations(tmp_path):
    config = dict(bench.QUICK, dataset="synthetic", samples=64, max_trials=2, epochs=2)
    clear_session = keras.backend.clear_session
    runs = [bench.run_search(name, config, str(tmp_path / name))
            for name in ("kt_random", "repair")]
    assert keras.backend.clear_session is clear_session  # instrumentation undone
    baseline, lean = runs
    assert [t["values"] for t in baseline["trials"]] == [t["values"] for t in lean["trials"]]
    assert len(baseline["trials"]) == 2
    for run in runs:
        for trial in run["trials"]:
            parts = trial["categories"]
            np.testing.assert_allclose(sum(parts.values()), trial["wall"], rtol=1e-9)
            assert len(trial["epochs"]) == 2
            assert parts["steady_train"] > 0 and parts["build"] > 0
            assert parts["checkpoint_io"] > 0 and parts["record_io"] > 0
            assert min(v for k, v in parts.items() if k not in ("trace_compile", "rest")) >= 0
    assert all(t["categories"]["session_reset"] > 0 for t in baseline["trials"])
    assert all(t["categories"]["session_reset"] == 0 for t in lean["trials"])
