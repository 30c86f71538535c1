"""Behaviours KerasTuner's own tuner tests check, checked here on our tuners.

KerasTuner's `engine/tuner_test.py` and `base_tuner_test.py` (keras-tuner 1.4.8) pass with
our tuners in place of its own (`benchmarks/kerastuner_tests.py`); these tests, written for
this suite, keep the behaviours that a `RepairTuner` or a `with_repair` tuner could break:
silence at `verbose=0`, errors that name what the user wrote, and how errors raised inside
a trial stop or fail the search.
"""

import keras_tuner
import numpy as np
import pytest
from keras_tuner.errors import FailedTrialError, FatalError, FatalTypeError, FatalValueError

from kt_nasrepair import RepairTuner, with_repair

from _repair_support import build_model

TUNERS = {
    "RepairTuner": lambda **kw: RepairTuner(strategy="quasi_random", **kw),
    "with_repair(RandomSearch)": lambda **kw: with_repair(keras_tuner.RandomSearch)(**kw),
}


@pytest.fixture
def data(digits_data):
    (x, y), (x_val, y_val) = digits_data
    return x[:200], y[:200], x_val[:100], y_val[:100]


def _search(tuner, data, **kwargs):
    x, y, x_val, y_val = data
    tuner.search(x, y, epochs=1, validation_data=(x_val, y_val), **kwargs)


# -- verbose -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", TUNERS)
def test_verbose_0_prints_nothing(name, data, tmp_path, capsys):
    tuner = TUNERS[name](hypermodel=build_model, objective="val_accuracy", max_trials=2,
                         directory=str(tmp_path))
    _search(tuner, data, verbose=0)
    assert capsys.readouterr().out.strip() == ""
    assert len(tuner.progress.durations) == 2  # measured all the same


@pytest.mark.parametrize("name", TUNERS)
def test_default_verbosity_prints_the_progress_line(name, data, tmp_path, capsys):
    tuner = TUNERS[name](hypermodel=build_model, objective="val_accuracy", max_trials=1,
                         directory=str(tmp_path))
    _search(tuner, data)
    out = capsys.readouterr().out
    assert "Search: Running Trial #1" in out  # KerasTuner's display
    assert any(line.startswith("trial 0 (1/1) | ") for line in out.splitlines()), out


@pytest.mark.slow
def test_show_progress_true_prints_the_lines_alone_at_verbose_0(data, tmp_path, capsys):
    tuner = RepairTuner(build_model, objective="val_accuracy", max_trials=2,
                        directory=str(tmp_path))
    tuner.show_progress = True
    _search(tuner, data, verbose=0)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(" | ")[0] for line in lines[:2]] == ["trial 0 (1/2)", "trial 1 (2/2)"], lines
    assert len(lines) == 3 and lines[2].startswith("done: 2 trials in ")


# -- what HyperModel.fit() returns ---------------------------------------------------------


class ReturnsFromFit(keras_tuner.HyperModel):
    """`fit` returns `value(hp)` without training, as a user's HyperModel may."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        return self.value(hp)


@pytest.mark.parametrize("name", TUNERS)
@pytest.mark.parametrize("objective, value, error, message", [
    ("val_loss", lambda hp: hp.Choice("value", ["a", "b"]), FatalTypeError,
     r"Expected the return value of HyperModel\.fit\(\) to be one of float, dict, "
     r"keras\.callbacks\.History.*Received: '[ab]'"),
    (None, lambda hp: {"val_loss": hp.Float("value", 0, 10)}, FatalTypeError,
     r"HyperModel\.fit\(\) to be a single float when `objective` is left unspecified"),
    ("val_loss", lambda hp: None, FatalTypeError,
     r"The return value of HyperModel\.fit\(\) is None"),
    ("val_loss", lambda hp: {"loss": 1.0}, FatalValueError,
     r"returned dictionary from HyperModel\.fit\(\) to have the specified objective, val_loss"),
])
def test_a_bad_fit_return_value_stops_the_search_naming_hypermodel_fit(
    name, objective, value, error, message, tmp_path
):
    tuner = TUNERS[name](hypermodel=ReturnsFromFit(value), objective=objective, max_trials=2,
                         directory=str(tmp_path))
    with pytest.raises(error, match=message):
        tuner.search(verbose=0)
    # Fatal: the search stopped at the first trial, as KerasTuner's does.
    assert len(tuner.oracle.trials) == 1


@pytest.mark.parametrize("name", TUNERS)
@pytest.mark.parametrize("value, score", [(lambda hp: 0.25, 0.25), (lambda hp: 3, 3.0),
                                          (lambda hp: {"val_loss": 0.5, "x": 1.0}, 0.5)])
def test_a_number_or_a_dict_from_fit_is_the_score(name, value, score, tmp_path):
    tuner = TUNERS[name](hypermodel=ReturnsFromFit(value), objective="val_loss", max_trials=1,
                         directory=str(tmp_path))
    tuner.search(verbose=0)
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "COMPLETED"
    np.testing.assert_allclose(trial.score, score)


# -- constructor arguments -----------------------------------------------------------------


def test_an_invalid_oracle_raises_keras_tuners_value_error(tmp_path):
    for tuner_class in (keras_tuner.Tuner, RepairTuner):
        with pytest.raises(ValueError,
                           match="Expected `oracle` argument to be an instance of `Oracle`"):
            tuner_class(oracle="invalid", hypermodel=build_model, directory=str(tmp_path))


@pytest.mark.parametrize("name", TUNERS)
def test_an_invalid_hypermodel_raises_keras_tuners_value_error(name, tmp_path):
    with pytest.raises(ValueError, match="`hypermodel` argument should be either"):
        TUNERS[name](hypermodel="build_model", objective="val_accuracy", max_trials=1,
                     directory=str(tmp_path))


def test_no_hypermodel_without_a_run_trial_of_ones_own_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Received `hypermodel=None`"):
        RepairTuner(objective="val_accuracy", max_trials=1, directory=str(tmp_path))


@pytest.mark.parametrize("name", TUNERS)
def test_an_oversized_model_stops_the_search(name, data, tmp_path):
    tuner = TUNERS[name](hypermodel=build_model, objective="val_accuracy", max_trials=2,
                         max_model_size=4, max_consecutive_failed_trials=1,
                         directory=str(tmp_path))
    with pytest.raises(RuntimeError, match="Oversized model"):
        _search(tuner, data, verbose=0)


# -- errors raised inside a trial ----------------------------------------------------------


class RaisesInFit(keras_tuner.HyperModel):
    def __init__(self, error):
        super().__init__()
        self.error = error
        self.calls = 0

    def build(self, hp):
        return build_model(hp)

    def fit(self, hp, model, *args, **kwargs):
        self.calls += 1
        raise self.error


@pytest.mark.parametrize("name", TUNERS)
def test_a_fatal_error_in_fit_is_raised_again(name, tmp_path):
    hypermodel = RaisesInFit(FatalError("stop here"))
    tuner = TUNERS[name](hypermodel=hypermodel, objective="val_loss", max_trials=3,
                         max_retries_per_trial=2, directory=str(tmp_path))
    with pytest.raises(FatalError, match="stop here"):
        tuner.search(verbose=0)
    assert hypermodel.calls == 1
    (record,) = tuner.lineage().values()
    assert record["error"] == "FatalError: stop here"


@pytest.mark.parametrize("name", TUNERS)
def test_a_failed_trial_error_in_fit_is_not_retried(name, tmp_path):
    hypermodel = RaisesInFit(FailedTrialError("not this one"))
    tuner = TUNERS[name](hypermodel=hypermodel, objective="val_loss", max_trials=2,
                         max_retries_per_trial=2, max_consecutive_failed_trials=3,
                         directory=str(tmp_path))
    tuner.search(verbose=0)
    assert hypermodel.calls == 2  # one call per trial: no retry
    assert [t.status for t in tuner.oracle.trials.values()] == ["FAILED", "FAILED"]


@pytest.mark.slow
@pytest.mark.parametrize("name", TUNERS)
def test_a_multi_objective_search_completes(name, data, tmp_path):
    tuner = TUNERS[name](hypermodel=build_model, objective=["val_accuracy", "val_loss"],
                         max_trials=2, donor_pool=1.0, directory=str(tmp_path))
    _search(tuner, data, verbose=0)
    assert type(tuner.oracle.objective).__name__ == "MultiObjective"
    trials = list(tuner.oracle.trials.values())
    assert [t.status for t in trials] == ["COMPLETED"] * 2
    assert all(np.isfinite(t.score) for t in trials)
    # Donors are ranked by the combined objective: later trials were offered the first ones.
    reasons = [r["reason"] or "" for r in tuner.lineage().values()]
    assert reasons[0] == "no completed trial to start from yet"
    assert "no completed trial" not in " ".join(reasons[1:]), reasons
    assert tuner.get_best_models(1)[0] is not None
