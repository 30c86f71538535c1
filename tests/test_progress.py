"""Tests for kt_nasrepair.progress: line format, ETA arithmetic, best tracking, the mixin."""

import io

import keras_tuner
import numpy as np
import pytest

from kt_nasrepair import plot
from kt_nasrepair import progress as progress_lib
from kt_nasrepair import report
from kt_nasrepair.hypermodel import DenseHyperModel
from kt_nasrepair.progress import SearchProgress


class FakeClock:
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "00:00:00"), (59.4, "00:00:59"), (59.6, "00:01:00"), (3725.4, "01:02:05"),
     (360000, "100:00:00"), (-3, "00:00:00"), (None, "--:--:--"), (float("nan"), "--:--:--")],
)
def test_format_duration(seconds, text):
    assert progress_lib.format_duration(seconds) == text


def test_estimate_remaining_is_mean_time_times_remaining_trials():
    np.testing.assert_allclose(progress_lib.estimate_remaining(90.0, 3, 10), 210.0)
    assert progress_lib.estimate_remaining(90.0, 10, 10) == 0.0
    assert progress_lib.estimate_remaining(90.0, 12, 10) == 0.0
    assert progress_lib.estimate_remaining(90.0, 3, None) is None
    assert progress_lib.estimate_remaining(0.0, 0, 10) is None


def test_format_line_is_pure_and_exact():
    line = SearchProgress.format_line(
        done=3, total=10, objective_name="val_accuracy", best_score=0.91234,
        best_trial_id="02", elapsed_seconds=90.0, remaining_seconds=210.0,
    )
    assert line == (
        "trial 3/10 | val_accuracy n/a | best 0.9123 (trial 02) | elapsed 00:01:30"
        " | ~00:03:30 left"
    )


def test_format_line_with_score_and_details():
    line = SearchProgress.format_line(
        done=3, total=10, objective_name="val_accuracy", best_score=0.91234,
        best_trial_id="02", elapsed_seconds=90.0, remaining_seconds=210.0, score=0.5,
        details=["2 x 64 relu", "", "warm from 01"],
    )
    assert line == (
        "trial 3/10 | 2 x 64 relu | warm from 01 | val_accuracy 0.5 | best 0.9123 (trial 02)"
        " | elapsed 00:01:30 | ~00:03:30 left"
    )


def test_format_line_unknown_total_and_no_best():
    line = SearchProgress.format_line(
        done=1, total=None, objective_name="score", best_score=None,
        best_trial_id=None, elapsed_seconds=5.0, remaining_seconds=None,
    )
    assert line == "trial 1/? | score n/a | best n/a | elapsed 00:00:05 | time left unknown"


def test_trial_end_prints_and_returns_lines_with_eta():
    clock, stream = FakeClock(), io.StringIO()
    progress = SearchProgress(total=4, stream=stream, objective_name="val_accuracy", clock=clock)
    progress.start()
    clock.now += 60
    first = progress.trial_end("00", 0.8, "COMPLETED")
    clock.now += 120
    second = progress.trial_end("01", 0.7, "COMPLETED")
    assert first == (
        "trial 00 (1/4) | val_accuracy 0.8 | best 0.8 (trial 00) | elapsed 00:01:00"
        " | ~00:03:00 left"
    )
    # mean 90 s per trial, 2 left -> 180 s
    assert second == (
        "trial 01 (2/4) | val_accuracy 0.7 | best 0.8 (trial 00) | elapsed 00:03:00"
        " | ~00:03:00 left"
    )
    assert stream.getvalue() == first + "\n" + second + "\n"
    assert progress.durations == {"00": 60.0, "01": 120.0}


def test_min_direction_failed_trials_and_unknown_total():
    clock, stream = FakeClock(), io.StringIO()
    progress = SearchProgress(
        stream=stream, objective_name="val_loss", direction="min", clock=clock
    )
    progress.start()
    clock.now += 10
    progress.trial_end("0", 0.5)
    clock.now += 10
    line = progress.trial_end("1", None, "FAILED")
    assert line == (
        "trial 1 (2/?) | val_loss n/a | best 0.5 (trial 0) | elapsed 00:00:20"
        " | time left unknown | failed"
    )
    clock.now += 10
    progress.trial_end("2", float("nan"))
    progress.trial_end("3", 0.2)
    progress.trial_end("4", 0.3)
    assert (progress.best_score, progress.best_trial_id) == (0.2, "3")
    assert progress.done == 5


def test_trial_begin_times_each_trial_and_finishing_all_means_zero_left():
    clock = FakeClock()
    progress = SearchProgress(total=2, stream=io.StringIO(), clock=clock)
    progress.start()
    clock.now += 5  # overhead between trials is not the trial's duration
    progress.trial_begin("a")
    clock.now += 20
    progress.trial_end("a", 1.0)
    clock.now += 5
    progress.trial_begin("b")
    clock.now += 10
    line = progress.trial_end("b", 2.0)
    assert progress.durations == {"a": 20.0, "b": 10.0}
    assert line.endswith("| elapsed 00:00:40 | ~00:00:00 left")
    assert "| score 2 | best 2 (trial b)" in line


def test_a_trial_given_its_own_time_keeps_it_and_the_clock_runs_the_eta():
    clock = FakeClock()
    progress = SearchProgress(total=3, stream=io.StringIO(), clock=clock)
    progress.start()
    progress.trial_begin("a")
    clock.now += 30
    line = progress.trial_end("a", 1.0, seconds=12.5)  # the lineage record's time
    assert progress.durations == {"a": 12.5}
    assert line.endswith("| elapsed 00:00:30 | ~00:01:00 left")


def test_resumed_search_counts_earlier_trials_but_times_only_new_ones():
    clock = FakeClock()
    progress = SearchProgress(total=10, stream=io.StringIO(), clock=clock)
    progress.start(done=6, best_score=0.9, best_trial_id="03")
    clock.now += 30
    line = progress.trial_end("06", 0.5)
    # 30 s for the one trial run here; 3 remain -> 90 s.
    assert line == (
        "trial 06 (7/10) | score 0.5 | best 0.9 (trial 03) | elapsed 00:00:30"
        " | ~00:01:30 left"
    )


def test_start_resets_state():
    clock = FakeClock()
    progress = SearchProgress(total=3, stream=io.StringIO(), clock=clock)
    progress.start()
    progress.trial_end("0", 1.0)
    progress.start()
    assert progress.done == 0 and progress.best_score is None and progress.durations == {}


def test_default_stream_is_stdout_at_print_time(capsys):
    progress = SearchProgress(total=1, objective_name="acc")
    progress.start()
    line = progress.trial_end("0", 0.5)
    assert capsys.readouterr().out == line + "\n"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"total": 0}, ValueError, r"`total` must be an integer >= 1 or None. Received: total=0"),
        ({"total": 2.5}, TypeError, r"`total` must be an integer >= 1 or None. .*total=2.5"),
        ({"direction": "up"}, ValueError, r"`direction` must be one of .*Received: direction='up'"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SearchProgress(**kwargs)


def test_with_progress_rejects_non_class():
    with pytest.raises(TypeError, match="`tuner_class` must be a tuner class"):
        progress_lib.with_progress("RandomSearch")


def test_summary_line_counts_trials_run_here_and_says_when_nothing_was_left():
    clock, stream = FakeClock(), io.StringIO()
    progress = SearchProgress(total=3, stream=stream, objective_name="acc", clock=clock)
    progress.start(done=1, best_score=0.5, best_trial_id="0")
    clock.now += 65
    progress.trial_end("1", 0.75)
    assert progress.summary() == "done: 1 trial in 00:01:05 (2 in all) | best acc 0.75 (trial 1)"
    progress.start(done=3, best_score=0.75, best_trial_id="1")
    clock.now += 5
    assert progress.summary() == (
        "done: no trial left to run (3 already finished) | best acc 0.75 (trial 1)"
    )


@pytest.mark.parametrize(
    "values, text",
    [
        ({"num_layers": 3, "units": 64, "activation": "relu"}, "3 x 64 relu"),
        ({"num_layers": 2, "units_0": 8, "units_1": 16}, "8-16"),
        ({"num_layers": 2, "units_0": 8, "units_1": 8, "learning_rate": 0.01}, "2 x 8"),
        ({"lr": 0.0123456, "optimizer": "adam", "tuner/epochs": 2}, "lr=0.0123, optimizer=adam"),
        ({"a" * 50: 1, "b" * 20: 2}, "a" * 50 + "=1, bbb..."),
        ({}, "-"),
    ],
)
def test_describe_architecture(values, text):
    assert progress_lib.describe_architecture(values) == text


def test_describe_origin():
    assert progress_lib.describe_origin(None) is None
    assert progress_lib.describe_origin({"donor": None, "growth": []}) == "cold"
    record = {"donor": None, "short_reason": "not a Dense chain"}
    assert progress_lib.describe_origin(record) == "cold (not a Dense chain)"
    assert progress_lib.describe_origin({"donor": "03"}) == "warm from 03"
    record = {"donor": "01", "growth": [{"widths_after": [16, 16]}]}
    assert progress_lib.describe_origin(record) == "warm from 01, grew to [16, 16]"


def _tiny_search(tuner_class, digits_data, tmp_path, stream=None, **attributes):
    (x_train, y_train), (x_val, y_val) = digits_data
    hypermodel = DenseHyperModel(
        input_shape=(64,), num_classes=10, num_layers=(1, 2), units=(8, 32, 8)
    )
    tuner = tuner_class(hypermodel, objective="val_accuracy", max_trials=2, seed=1,
                        directory=str(tmp_path), project_name="rs")
    if stream is not None:
        tuner.progress_stream = stream
    for name, value in attributes.items():
        setattr(tuner, name, value)
    # verbose=0 mutes Keras's epoch output; show_progress=True keeps the progress lines.
    if "show_progress" not in attributes:
        tuner.show_progress = True
    tuner.search(x_train[:400], y_train[:400], validation_data=(x_val, y_val), epochs=1,
                 batch_size=64, verbose=0)
    return tuner


def test_with_progress_on_a_real_random_search(digits_data, tmp_path):
    stream = io.StringIO()
    tuner_class = progress_lib.with_progress(keras_tuner.RandomSearch)
    assert tuner_class.__name__ == "RandomSearchWithProgress"
    tuner = _tiny_search(tuner_class, digits_data, tmp_path, stream)
    assert isinstance(tuner, keras_tuner.RandomSearch)
    lines = stream.getvalue().splitlines()
    best = tuner.oracle.get_best_trials(1)[0]
    assert len(lines) == 3
    for n, (line, trial_id) in enumerate(zip(lines, sorted(tuner.oracle.trials)), start=1):
        trial = tuner.oracle.trials[trial_id]
        hp = trial.hyperparameters.values
        widths = "-".join(str(hp[f"units_{i}"]) for i in range(hp["num_layers"]))
        if len(set(widths.split("-"))) == 1:
            widths = f"{hp['num_layers']} x {hp['units_0']}"
        assert line.startswith(
            f"trial {trial_id} ({n}/2) | {widths} | val_accuracy {trial.score:.4g} | best "
        ), line
    expected = f"val_accuracy {best.score:.4g} (trial {best.trial_id})"
    assert lines[1].endswith("~00:00:00 left")
    assert f"| best {best.score:.4g} (trial {best.trial_id}) |" in lines[1]
    assert lines[2].startswith("done: 2 trials in ") and lines[2].endswith(
        f"| best {expected}"
    )
    assert set(tuner.progress.durations) == set(tuner.oracle.trials)
    assert all(seconds > 0 for seconds in tuner.progress.durations.values())
    # The measured durations feed the time axis of the history plot.
    rows = plot.history_table(tuner, durations=tuner.progress.durations)
    np.testing.assert_allclose(
        rows[-1]["cumulative_seconds"], sum(tuner.progress.durations.values())
    )


def test_show_progress_false_mutes_the_lines_but_keeps_the_durations(
    digits_data, tmp_path, capsys
):
    tuner_class = progress_lib.with_progress(keras_tuner.RandomSearch)
    tuner = _tiny_search(tuner_class, digits_data, tmp_path, show_progress=False)
    assert "(1/2)" not in capsys.readouterr().out
    assert set(tuner.progress.durations) == set(tuner.oracle.trials)


def test_repair_tuner_lines_say_cold_or_warm_with_show_progress(digits_data, tmp_path, capsys):
    from kt_nasrepair import RepairTuner

    tuner = _tiny_search(RepairTuner, digits_data, tmp_path)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith(("trial ", "done: "))]
    lineage = tuner.lineage()
    assert len(lines) == 3, lines
    for line, trial_id in zip(lines, sorted(lineage)):
        donor = lineage[trial_id]["donor"]
        origin = "cold" if donor is None else f"warm from {donor}"
        assert f" | {origin}" in line, line
    assert lines[0].split(" | ")[2] == "cold (no finished trial yet)"  # the first trial
    assert lines[2].startswith("done: 2 trials in ")
    # One clock per trial: the durations are the lineage records' wall times.
    assert tuner.progress.durations == {
        trial_id: report.record_seconds(record) for trial_id, record in lineage.items()}
    assert tuner.trial_record(lines[0].split()[1]) == lineage[lines[0].split()[1]]


def test_lines_name_each_trial_by_its_kerastuner_id_beside_the_count(digits_data, tmp_path,
                                                                     capsys):
    # KerasTuner names trials from 0, padded to max_trials' width ("00"); the count runs from
    # 1. The line shows the id as it is, then the count, and the best and the donor use the
    # same ids, so "trial 01" always means the same trial.
    from kt_nasrepair import RepairTuner

    tuner = _tiny_search(RepairTuner, digits_data, tmp_path)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("trial ")]
    assert [line.split(" | ")[0] for line in lines] == [
        f"trial {trial_id} ({n}/2)" for n, trial_id in enumerate(sorted(tuner.oracle.trials), 1)
    ]
    best = tuner.oracle.get_best_trials(1)[0].trial_id
    assert lines[-1].split(" | ")[-3].endswith(f"(trial {best})")


@pytest.mark.parametrize("origin, shown", [
    (None, "continues 0003"),                   # with_progress(Hyperband): no lineage
    ("cold", "continues 0003"),                 # with_repair(Hyperband): no donor of its own
    ("warm from 0001", "warm from 0001"),
])
def test_hyperband_continued_trials_say_which_trial_they_continue(origin, shown):
    # Hyperband writes the trial it continues into the values (`tuner/trial_id`).
    hp = keras_tuner.HyperParameters()
    hp.Int("units", 8, 32, default=16)
    hp.values.update({"tuner/epochs": 3, "tuner/initial_epoch": 1, "tuner/trial_id": "0003"})
    trial = keras_tuner.engine.trial.Trial(hp, trial_id="0007")

    class Tuner(progress_lib.SearchProgressMixin):
        def _progress_origin(self, trial_id):
            return origin

    assert Tuner().progress_details(trial) == ["units=16", shown]
    hp.values["tuner/trial_id"] = None  # a new configuration in its first round
    assert Tuner().progress_details(trial)[1:] == ([origin] if origin else [])
