"""Bad input: one test per row of docs/bad_input.md (error type and message, or fallback)."""

import json
import math
import os
import re

import keras
import keras_tuner
import numpy as np
import pytest

from kt_nasrepair import DenseHyperModel, RepairTuner
from kt_nasrepair.oracles import EntropySearchOracle, QuasiRandomSearchOracle

OUR_ORACLES = [QuasiRandomSearchOracle, EntropySearchOracle]


@pytest.fixture(autouse=True)
def _seed_everything(request):
    # Overrides the conftest fixture: most tests here only construct objects, and its
    # `clear_session()` (a full gc.collect, ~0.3 s) would then cost more than the tests.
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield
    if "digits_data" in request.fixturenames:  # the tests that build and train models
        keras.backend.clear_session()


def _received(argument, value):
    """The regex of "`argument` ... Received: argument=<repr(value)>"."""
    return rf"`{argument}`.*Received: {argument}={re.escape(repr(value))}"


def _dense_hypermodel(**kwargs):
    return DenseHyperModel(**{"input_shape": (64,), "num_classes": 10, **kwargs})


def small_hypermodel():
    return DenseHyperModel((64,), 10, num_layers=(1, 1), units=[8], learning_rate=None)


def _search(tuner, data, x_columns=None, val_columns=None, validation=True):
    (x, y), (x_val, y_val) = data
    if x_columns is not None:
        x = x[:, :x_columns]
    if val_columns is not None:
        x_val = x_val[:, :val_columns]
    kwargs = {"validation_data": (x_val, y_val)} if validation else {}
    tuner.search(x, y, epochs=1, verbose=0, **kwargs)


def _only_trial(tuner):
    (trial,) = tuner.oracle.trials.values()
    return trial


def _record(tuner, trial):
    with open(os.path.join(tuner.get_trial_dir(trial.trial_id), "repair.json")) as f:
        return json.load(f)


# -- DenseHyperModel: every argument is checked at construction ---------------------------


@pytest.mark.parametrize("value", [(5, 2), (0, 2), (-1, 2), (1,), (1.0, 3), 3])
def test_hypermodel_num_layers(value):
    with pytest.raises(ValueError, match=_received("num_layers", value)) as info:
        _dense_hypermodel(num_layers=value)
    assert "1 <= min <= max" in str(info.value)


@pytest.mark.parametrize("value", [(1, 2, 3, 4), (8,), [], [8, -1], (0, 10), (10, 5), (8.0, 32),
                                   (8, 32, 0), 32])
def test_hypermodel_units(value):
    with pytest.raises(ValueError, match=_received("units", value)) as info:
        _dense_hypermodel(units=value)
    expected = "non-empty list of positive integers" if isinstance(value, list) else (
        "(min, max) or (min, max, step)")
    assert expected in str(info.value)


@pytest.mark.parametrize("value", ["not_an_activation", [], ["relu", 3], None])
def test_hypermodel_activation(value):
    with pytest.raises(ValueError, match=_received("activation", value)) as info:
        _dense_hypermodel(activation=value)
    assert "Keras activation name" in str(info.value)


@pytest.mark.parametrize("value", [(0.5, 1.5), (-0.1, 0.5), (0.0, 1.0), (0.4, 0.2),
                                   (0.0, 0.5, 0.0), (0.0, 0.5, math.inf), 0.3])
def test_hypermodel_dropout(value):
    with pytest.raises(ValueError, match=_received("dropout", value)) as info:
        _dense_hypermodel(dropout=value)
    assert "0.0 <= min <= max < 1.0" in str(info.value)


@pytest.mark.parametrize("value", [(0.0, 0.1), (-1e-3, 1e-2), (1e-2, 1e-4), (1e-4, math.inf),
                                   (math.nan, 1e-2), 1e-3])
def test_hypermodel_learning_rate(value):
    with pytest.raises(ValueError, match=_received("learning_rate", value)) as info:
        _dense_hypermodel(learning_rate=value)
    assert "0.0 < min <= max < inf" in str(info.value)


@pytest.mark.parametrize("value", [1, 0, 2.0, True, "10"])
def test_hypermodel_num_classes(value):
    with pytest.raises(ValueError, match=_received("num_classes", value) + "$") as info:
        _dense_hypermodel(num_classes=value)
    assert "an integer >= 2" in str(info.value)


@pytest.mark.parametrize("value", [(), (28, -1), (64.0,), "784", None, 0])
def test_hypermodel_input_shape(value):
    with pytest.raises(ValueError, match=_received("input_shape", value)) as info:
        _dense_hypermodel(input_shape=value)
    assert "non-empty tuple of positive integers" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, argument, expected",
    [
        ({"optimizer": "not_an_optimizer"}, "optimizer", "Keras optimizer name"),
        ({"optimizer": 0.01}, "optimizer", "Keras optimizer name"),
        ({"loss": "not_a_loss"}, "loss", "Keras loss name"),
        ({"loss": 3}, "loss", "Keras loss name"),
        ({"metrics": "accuracy"}, "metrics", "list of metric names"),
        ({"metrics": [3]}, "metrics", "list of metric names"),
    ],
)
def test_hypermodel_optimizer_loss_metrics(kwargs, argument, expected):
    with pytest.raises(ValueError, match=_received(argument, kwargs[argument])) as info:
        _dense_hypermodel(**kwargs)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    "kwargs, argument, expected",
    [
        ({"output_activation": "relu"}, "output_activation", "'softmax' or 'sigmoid'"),
        ({"output_activation": "sigmoid"}, "num_classes", "must be 2"),
        ({"per_layer_units": "no"}, "per_layer_units", "True or False"),
    ],
)
def test_hypermodel_output_activation_and_flags(kwargs, argument, expected):
    value = 10 if argument == "num_classes" else kwargs[argument]
    with pytest.raises(ValueError, match=_received(argument, value)) as info:
        _dense_hypermodel(**kwargs)
    assert expected in str(info.value)


# -- our oracles ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", OUR_ORACLES)
@pytest.mark.parametrize("value", [0, -1, 2.0, "10", True])
def test_oracle_max_trials(cls, value):
    with pytest.raises(ValueError, match=_received("max_trials", value)) as info:
        cls(objective="loss", max_trials=value)
    assert "integer >= 1 (or None for no limit)" in str(info.value)


@pytest.mark.parametrize("cls", OUR_ORACLES)
@pytest.mark.parametrize("value", ["abc", 1.5, -1, True])
def test_oracle_seed(cls, value):
    with pytest.raises(ValueError, match=_received("seed", value)) as info:
        cls(objective="loss", seed=value)
    assert "None or an integer >= 0" in str(info.value)


@pytest.mark.parametrize("cls", OUR_ORACLES)
def test_oracle_seed_zero_is_reproducible(cls, tmp_path):
    # KerasTuner's `seed or random.randint(...)` would turn seed=0 into a random seed.
    space = keras_tuner.HyperParameters()
    space.Float("x", 0.0, 1.0)
    first_values = []
    for run in range(2):
        oracle = cls(objective="loss", seed=0, hyperparameters=space.copy())
        oracle._set_project_dir(str(tmp_path), f"run{run}")
        oracle.verbose = 0
        assert oracle.seed == 0
        first_values.append(oracle.create_trial("tuner0").hyperparameters.values)
    assert first_values[0] == first_values[1]


@pytest.mark.parametrize(
    "argument, value",
    [
        ("num_initial_points", 0),
        ("num_initial_points", 2.5),
        ("num_max_samples", 0),
        ("num_max_samples", None),
        ("num_candidates", -3),
        ("num_candidates", True),
    ],
)
def test_entropy_oracle_counts(argument, value):
    with pytest.raises(ValueError, match=_received(argument, value) + "$") as info:
        EntropySearchOracle(objective="loss", **{argument: value})
    assert "must be an integer >= 1" in str(info.value)


@pytest.mark.parametrize("cls", OUR_ORACLES)
@pytest.mark.parametrize(
    "argument, value, error, expected",
    [
        ("hyperparameters", {"units": 8}, TypeError, "keras_tuner.HyperParameters"),
        ("max_retries_per_trial", -1, ValueError, "integer >= 0"),
        ("max_consecutive_failed_trials", 0, ValueError, "integer >= 1"),
    ],
)
def test_oracle_keras_tuner_arguments(cls, argument, value, error, expected):
    with pytest.raises(error, match=_received(argument, value)) as info:
        cls(objective="loss", **{argument: value})
    assert expected in str(info.value)


@pytest.mark.parametrize("cls", OUR_ORACLES)
def test_oracle_objective_unknown_name_or_type(cls):
    # KerasTuner's own checks, kept: an unknown name needs a direction.
    with pytest.raises(ValueError, match=r'Could not infer optimization direction.*"val_f1"'):
        cls(objective="val_f1")
    with pytest.raises(TypeError, match=r"`objective` not understood.*found: 3"):
        cls(objective=3)


# -- NeuralRepair arguments ----------------------------------------------------------------


@pytest.mark.parametrize("monitor", ["val_f1", "val_my_metric", "val_auc_1"])
def test_neural_repair_monitor_direction_unknown(monitor):
    from kt_nasrepair import NeuralRepair

    with pytest.raises(
        ValueError,
        match=rf"`mode='auto'` cannot tell whether `monitor='{monitor}'` should be minimised or "
        r"maximised.*Pass `mode='min'` or `mode='max'`",
    ):
        NeuralRepair(grow_on_plateau=True, monitor=monitor)


# -- RepairTuner arguments ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["grid", "bayesian", "random", "grow", None])
def test_tuner_strategy(tmp_path, value):
    with pytest.raises(ValueError, match=_received("strategy", value)) as info:
        RepairTuner(small_hypermodel(), objective="val_accuracy", strategy=value,
                    directory=tmp_path)
    assert "('entropy', 'quasi_random')" in str(info.value)


@pytest.mark.parametrize("value", ["always", "best-compatible", "best", "", None, True])
def test_tuner_warm_start(tmp_path, value):
    with pytest.raises(ValueError, match=_received("warm_start", value)) as info:
        RepairTuner(small_hypermodel(), objective="val_accuracy", warm_start=value,
                    directory=tmp_path)
    assert "('best_compatible', 'none')" in str(info.value)


@pytest.mark.parametrize("value", [0, 0.0, -0.5, 1.5, True, "half", None])
def test_tuner_donor_pool(tmp_path, value):
    with pytest.raises(ValueError, match=_received("donor_pool", value)) as info:
        RepairTuner(small_hypermodel(), objective="val_accuracy", donor_pool=value,
                    directory=tmp_path)
    assert "fraction in (0, 1]" in str(info.value)


@pytest.mark.parametrize(
    "argument, value, expected",
    [("noise_std", -1.0, "number >= 0"), ("growth_factor", 0.5, "number >= 1")],
)
def test_tuner_noise_and_growth(tmp_path, argument, value, expected):
    with pytest.raises(ValueError, match=_received(argument, value)) as info:
        RepairTuner(small_hypermodel(), objective="val_accuracy", directory=tmp_path,
                    **{argument: value})
    assert expected in str(info.value)


def test_tuner_oracle_argument(tmp_path):
    # KerasTuner's Tuner raises a ValueError for this, worded the same way.
    with pytest.raises(ValueError, match=r"Expected `oracle` argument to be an instance of "
                                         r"`Oracle`.*Received: oracle='val_accuracy'"):
        RepairTuner(small_hypermodel(), "val_accuracy", directory=tmp_path)
    oracle = QuasiRandomSearchOracle(objective="val_accuracy", max_trials=1)
    with pytest.raises(ValueError,
                       match=r"belong to the oracle.*Received: objective='val_accuracy'"):
        RepairTuner(small_hypermodel(), oracle, objective="val_accuracy", directory=tmp_path)


# -- at search time ---------------------------------------------------------------------------


def test_objective_never_reported(tmp_path, digits_data):
    tuner = RepairTuner(small_hypermodel(), objective=keras_tuner.Objective("val_f1", "max"),
                        max_trials=2, max_consecutive_failed_trials=1, directory=tmp_path)
    expected = (r"The objective 'val_f1' is not among the metrics the model reported: "
                r"\['accuracy', 'loss', 'val_accuracy', 'val_loss'\]")
    # The trial fails; KerasTuner then stops the search, quoting the trial's message.
    with pytest.raises(RuntimeError, match=r"(?s)consecutive failures.*" + expected):
        _search(tuner, digits_data)
    trial = _only_trial(tuner)
    assert trial.status == "FAILED"
    assert re.search(expected, trial.message)
    assert "KeyError" not in trial.message
    assert re.search("FailedTrialError: " + expected, _record(tuner, trial)["error"])


def test_val_objective_without_validation_data(tmp_path, digits_data):
    tuner = RepairTuner(small_hypermodel(), objective="val_accuracy", max_trials=1,
                        strategy="quasi_random", directory=tmp_path)
    _search(tuner, digits_data, validation=False)
    trial = _only_trial(tuner)
    assert trial.status == "FAILED"
    assert re.search(r"The objective 'val_accuracy' is not among the metrics the model "
                     r"reported: \['accuracy', 'loss'\]", trial.message)
    assert "need `validation_data` or `validation_split`" in trial.message


@pytest.mark.parametrize(
    "x_columns, val_columns, argument, received",
    [(32, 32, "x", "(1437, 32)"), (None, 32, "validation_data", "(360, 32)")],
)
def test_data_shape_mismatch(tmp_path, digits_data, x_columns, val_columns, argument, received):
    tuner = RepairTuner(small_hypermodel(), objective="val_accuracy", max_trials=1,
                        strategy="quasi_random", directory=tmp_path)
    _search(tuner, digits_data, x_columns=x_columns, val_columns=val_columns)
    trial = _only_trial(tuner)
    assert trial.status == "FAILED"
    expected = (rf"expects inputs of shape \(None, 64\) \(one sample: \(64,\)\), but "
                rf"`{argument}` has shape {re.escape(received)} \(one sample: \(32,\)\)")
    assert re.search(expected, trial.message)
    record = _record(tuner, trial)
    assert re.search(expected, record["error"])
    assert record["reason"] == "the data does not fit the model's input"
    assert record["train_seconds"] is None  # failed before any training


def test_non_dense_model_trains_cold_with_reason(tmp_path, digits_data):
    # See also tests/repair/test_tuner.py::test_unmorphable_models_train_cold_with_reason.
    def build_conv(hp):
        model = keras.Sequential([
            keras.Input(shape=(64,)),
            keras.layers.Reshape((8, 8, 1)),
            keras.layers.Conv2D(hp.Int("filters", 2, 4, step=2), 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = RepairTuner(build_conv, objective="val_accuracy", max_trials=2, strategy="quasi_random",
                        donor_pool=1.0, seed=1, directory=tmp_path)
    _search(tuner, digits_data)
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED", "COMPLETED"]
    lineage = tuner.lineage()
    assert len(lineage) == 2
    for record in lineage.values():  # the second trial had a completed donor to refuse
        assert record["donor"] is None and record["ops"] == []
        assert record["reason"].startswith("target model cannot be morphed:")
        assert "(Conv2D) is not supported by the Net2Net morphisms" in record["reason"]
