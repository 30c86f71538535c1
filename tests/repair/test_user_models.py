"""RepairTuner on the models and settings users pass to KerasTuner (issue 12).

Several executions and retries with growth, models that cannot grow, lazily built models,
`HyperModel.fit` returning a dict or a float, and a trial whose last epoch diverged.
"""

import json
import os

import keras
import keras_tuner
import numpy as np
import pytest

from kt_nasrepair import DenseHyperModel, NeuralRepair, RepairTuner, morph
from kt_nasrepair.repair import budget as budget_lib
from kt_nasrepair.repair import checkpoints
from kt_nasrepair.repair import donors as donors_lib
from kt_nasrepair.repair import growth as growth_lib

from _repair_support import SequenceOracle

TRAIN, VAL = 400, 200


@pytest.fixture
def data(digits_data):
    (x, y), (x_val, y_val) = digits_data
    return (x[:TRAIN], y[:TRAIN]), (x_val[:VAL], y_val[:VAL])


def _search(tuner, data, epochs, **kwargs):
    (x, y), (x_val, y_val) = data
    tuner.search(x, y, epochs=epochs, validation_data=(x_val, y_val), verbose=0, **kwargs)


def _grow_every_plateau():
    # min_delta larger than any possible improvement: every epoch after the first is a
    # plateau, so growth is requested after epoch 1 and again after each later epoch.
    return NeuralRepair(grow_on_plateau=True, monitor="val_loss", patience=1, min_delta=10.0,
                        recycle_dormant=False)


def _accuracy(model, data):
    _, (x_val, y_val) = data
    predicted = np.argmax(model.predict(x_val, verbose=0), axis=1)
    return float(np.mean(predicted == np.argmax(y_val, axis=1)))


class RecordingHyperModel(DenseHyperModel):
    """DenseHyperModel that keeps every `fit` segment's validation accuracies."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.val_accuracy = []

    def fit(self, hp, model, *args, **kwargs):
        history = super().fit(hp, model, *args, **kwargs)
        self.val_accuracy.extend(history.history.get("val_accuracy", []))
        return history


# -- 1. several executions, retries ------------------------------------------------------


@pytest.mark.slow
def test_two_executions_with_growth_complete_and_load_the_best_epoch(tmp_path, data):
    hypermodel = RecordingHyperModel((64,), 10, num_layers=(1, 1), units=[4],
                                     learning_rate=None)
    oracle = SequenceOracle([{"num_layers": 1, "units_0": 4}], objective="val_accuracy")
    tuner = RepairTuner(hypermodel, oracle, executions_per_trial=2, directory=tmp_path,
                        project_name="executions")
    _search(tuner, data, epochs=4, callbacks=[_grow_every_plateau()])
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "COMPLETED", trial.message
    record = tuner.lineage()[trial.trial_id]
    assert record["execution"] == 1 and record["growth"], record
    # The checkpoint is the best epoch of both executions (KerasTuner's one SaveBestEpoch),
    # in the architecture it had then: load_model scores exactly that.
    model = tuner.load_model(trial)
    assert _accuracy(model, data) == pytest.approx(max(hypermodel.val_accuracy), abs=1e-6)
    saved = record["checkpoint"]
    stored = os.path.exists(checkpoints.architecture_fname(tuner.get_trial_dir(trial.trial_id)))
    assert stored == saved["grown"]
    assert (morph.hidden_widths(model)[0] > 4) == saved["grown"]


@pytest.mark.slow
def test_executions_get_their_own_warm_start_and_growth_seeds(tmp_path, data, monkeypatch):
    seeds = []
    real = donors_lib.warm_start

    def recording(model, candidates, **kwargs):
        seeds.append(kwargs["seed"])
        return real(model, candidates, **kwargs)

    monkeypatch.setattr(donors_lib, "warm_start", recording)
    hypermodel = DenseHyperModel((64,), 10, num_layers=(1, 1), units=[4, 8], learning_rate=None)
    oracle = SequenceOracle([{"num_layers": 1, "units_0": 4}, {"num_layers": 1, "units_0": 8}],
                            objective="val_accuracy", seed=5)
    tuner = RepairTuner(hypermodel, oracle, executions_per_trial=2, directory=tmp_path,
                        project_name="seeds")
    _search(tuner, data, epochs=3, callbacks=[_grow_every_plateau()])
    first, second = sorted(tuner.oracle.trials)
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    # The second trial's two executions were warm-started with different noise.
    assert seeds == [donors_lib.transfer_seed(5, second, e) for e in (0, 1)]
    assert len(set(seeds)) == 2
    record = tuner.lineage()[second]
    assert record["donor"] == first
    # Growth is seeded from the tuner's seed, the trial, the execution and the epoch.
    assert [g["seed"] for g in record["growth"]] == [
        growth_lib.growth_seed(5, second, record["execution"], g["epoch"])
        for g in record["growth"]
    ]


class FailsOnceAfterGrowing(DenseHyperModel):
    """Its first attempt grows, then raises; the retry trains without growth."""

    attempts = 0

    def fit(self, hp, model, *args, **kwargs):
        if type(self).attempts >= 1:
            for callback in kwargs.get("callbacks", []):
                if isinstance(callback, NeuralRepair):
                    callback.grow_on_plateau = False
        history = super().fit(hp, model, *args, **kwargs)
        if type(self).attempts == 0 and morph.hidden_widths(model)[0] > 4:
            type(self).attempts += 1
            raise RuntimeError("worker lost after growth")
        return history


def test_a_retry_does_not_inherit_the_failed_attempts_architecture(tmp_path, data):
    FailsOnceAfterGrowing.attempts = 0
    hypermodel = FailsOnceAfterGrowing((64,), 10, num_layers=(1, 1), units=[4],
                                       learning_rate=None)
    oracle = SequenceOracle([{"num_layers": 1, "units_0": 4}], objective="val_accuracy",
                            max_retries_per_trial=1)
    tuner = RepairTuner(hypermodel, oracle, directory=tmp_path, project_name="retry")
    _search(tuner, data, epochs=3, callbacks=[_grow_every_plateau()])
    (trial,) = tuner.oracle.trials.values()
    assert FailsOnceAfterGrowing.attempts == 1
    assert trial.status == "COMPLETED", trial.message
    assert not os.path.exists(checkpoints.architecture_fname(tuner.get_trial_dir(trial.trial_id)))
    model = tuner.get_best_models(1)[0]
    assert morph.hidden_widths(model) == [4]
    assert _accuracy(model, data) == pytest.approx(trial.score, abs=1e-6)


# -- 2. models that cannot grow ----------------------------------------------------------


def build_conv(hp):
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        keras.layers.Conv2D(hp.Choice("filters", [4]), 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def my_activation(x):  # a user's function, not registered with Keras
    return keras.ops.relu(x) * 1.5


def build_custom_activation(hp):
    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(hp.Choice("units", [4]), activation=my_activation),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.parametrize("build, image", [(build_conv, True), (build_custom_activation, False)])
def test_a_model_that_cannot_grow_trains_on_with_the_reason(tmp_path, data, build, image):
    (x, y), (x_val, y_val) = data
    if image:
        data = (x.reshape(-1, 8, 8, 1), y), (x_val.reshape(-1, 8, 8, 1), y_val)
    tuner = RepairTuner(build, objective="val_accuracy", max_trials=1, strategy="quasi_random",
                        directory=tmp_path, project_name=build.__name__)
    _search(tuner, data, epochs=4, callbacks=[_grow_every_plateau()])
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "COMPLETED", trial.message
    record = tuner.lineage()[trial.trial_id]
    assert record["epochs_trained"] == 4
    # Either it grew into a model load_model can rebuild, or growth was skipped, once, with
    # the reason, and the model trained on unchanged (growth is off for the rest of the run).
    if not record["growth"]:
        (skipped,) = record["growth_skipped"]
        assert skipped["epoch"] == 2 and skipped["reason"]
    model = tuner.get_best_models(1)[0]
    assert _accuracy(model, data) == pytest.approx(trial.score, abs=1e-6)


def test_conv_growth_is_skipped_as_not_morphable(tmp_path, data):
    (x, y), (x_val, y_val) = data
    data = (x.reshape(-1, 8, 8, 1), y), (x_val.reshape(-1, 8, 8, 1), y_val)
    tuner = RepairTuner(build_conv, objective="val_accuracy", max_trials=1, strategy="quasi_random",
                        directory=tmp_path, project_name="conv")
    _search(tuner, data, epochs=3, callbacks=[_grow_every_plateau()])
    record = next(iter(tuner.lineage().values()))
    assert record["growth"] == []
    assert "NotMorphableError" in record["growth_skipped"][0]["reason"]


def test_a_grown_model_that_cannot_be_stored_is_not_grown():
    model = build_custom_activation(keras_tuner.HyperParameters())
    with pytest.raises(TypeError, match="register_keras_serializable"):
        checkpoints.check_storable(model)
    checkpoints.check_storable(build_conv(keras_tuner.HyperParameters()))  # no error


def test_grow_override_without_seed_still_works():
    calls = []

    def grow(model):
        calls.append(model)
        return model, []

    def grow_seeded(model, seed=None):
        calls.append(seed)
        return model, []

    growth_lib.call_grow(grow, "m", 3)
    growth_lib.call_grow(grow_seeded, "m", 3)
    assert calls == ["m", 3]
    assert growth_lib.growth_seed(1, "0", 0, 2) != growth_lib.growth_seed(2, "0", 0, 2)
    assert growth_lib.growth_seed(1, "0", 0, 2) != growth_lib.growth_seed(1, "0", 1, 2)


# -- 3. lazily built models --------------------------------------------------------------


class Subclassed(keras.Model):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(units, activation="relu")
        self.out = keras.layers.Dense(10, activation="softmax")

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.out.build((None, self.hidden.units))

    def call(self, x):
        return self.out(self.hidden(x))


def build_lazy(hp):
    units = hp.Choice("units", [8, 16])
    if hp.Boolean("subclassed", default=False):
        model = Subclassed(units)
    elif units == 8:  # a Sequential without Input: built on its first batch
        model = keras.Sequential([keras.layers.Dense(units, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
    else:
        model = keras.Sequential([keras.Input(shape=(64,)),
                                  keras.layers.Dense(units, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


@pytest.mark.slow
def test_lazily_built_models_load_and_warm_start_their_relatives(tmp_path, data):
    oracle = SequenceOracle([{"units": 8, "subclassed": False}, {"units": 16, "subclassed": True},
                             {"units": 16, "subclassed": False}], objective="val_accuracy")
    tuner = RepairTuner(build_lazy, oracle, donor_pool=1.0, directory=tmp_path,
                        project_name="lazy")
    _search(tuner, data, epochs=2)
    lazy, subclassed, with_input = (tuner.oracle.trials[t] for t in sorted(tuner.oracle.trials))
    assert all(t.status == "COMPLETED" for t in (lazy, subclassed, with_input))
    for trial in (lazy, subclassed):
        model = tuner.load_model(trial)
        assert _accuracy(model, data) == pytest.approx(trial.score, abs=1e-6)
    assert len(tuner.get_best_models(3)) == 3
    # The lazily built Sequential, rebuilt from its build config, is a donor like any other.
    lineage = tuner.lineage()
    assert lineage[with_input.trial_id]["donor"] == lazy.trial_id, lineage[with_input.trial_id]


# -- 4. HyperModel.fit returning a dict or a float ---------------------------------------


class ReturnsValue(DenseHyperModel):
    """A `fit` that returns a dict or a float computed after training, as KerasTuner allows."""

    def __init__(self, kind, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.returned = []

    def fit(self, hp, model, *args, **kwargs):
        super().fit(hp, model, *args, **kwargs)
        x_val, y_val = kwargs["validation_data"]
        _, accuracy = model.evaluate(x_val, y_val, verbose=0)
        self.returned.append(accuracy)
        return {"score": accuracy} if self.kind == "dict" else accuracy


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["dict", "float"])
def test_fit_returning_a_value_grows_and_budgets(tmp_path, data, monkeypatch, kind):
    decisions = []
    monkeypatch.setattr(budget_lib, "should_promote",
                        lambda objective, value, donor: decisions.append(value) or True)
    hypermodel = ReturnsValue(kind, (64,), 10, num_layers=(1, 1), units=[4, 32],
                              learning_rate=None)
    # The first trial grows 4 -> 8 -> 16; the child (32 units) is reachable from it.
    oracle = SequenceOracle([{"num_layers": 1, "units_0": 4}, {"num_layers": 1, "units_0": 32}],
                            objective=keras_tuner.Objective("score", "max"))
    tuner = RepairTuner(hypermodel, oracle, warm_epochs=1, directory=tmp_path,
                        project_name=kind)
    _search(tuner, data, epochs=4, callbacks=[_grow_every_plateau()])
    first, second = (tuner.oracle.trials[t] for t in sorted(tuner.oracle.trials))
    assert first.status == second.status == "COMPLETED"
    lineage = tuner.lineage()
    # Growth ran on the epochs seen by the tuner's own callback, whatever fit returns.
    assert lineage[first.trial_id]["growth"] and lineage[first.trial_id]["epochs_trained"] == 4
    child = lineage[second.trial_id]
    assert child["donor"] == first.trial_id and child["warm_epochs"] == 1
    # The objective is not in the epoch logs: promotion used the value fit returned.
    assert decisions == [pytest.approx(child["value_at_warm_epochs"])]
    assert child["value_at_warm_epochs"] is not None and child["promoted"] is True
    assert child["epochs_trained"] == 4
    # The trial is scored on what the last fit returned (the final model's evaluation).
    assert second.score == pytest.approx(hypermodel.returned[-1])


class IgnoresCallbacks(DenseHyperModel):
    def fit(self, hp, model, *args, callbacks=None, **kwargs):
        return model.fit(*args, **kwargs)


def test_fit_that_does_not_pass_callbacks_on_is_recorded(tmp_path, data):
    hypermodel = IgnoresCallbacks((64,), 10, num_layers=(1, 1), units=[4], learning_rate=None)
    tuner = RepairTuner(hypermodel, objective="val_accuracy", max_trials=1, strategy="quasi_random",
                        directory=tmp_path, project_name="ignores")
    _search(tuner, data, epochs=2, callbacks=[_grow_every_plateau()])
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "COMPLETED", trial.message
    record = tuner.lineage()[trial.trial_id]
    assert record["growth"] == [] and record["epochs_trained"] is None
    assert "did not pass `callbacks` on" in record["notes"][0]


# -- 9. a NaN at the last epoch ----------------------------------------------------------


class PoisonedAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            kernel = self.model.layers[-1].kernel  # softmax(NaN) is NaN (relu(NaN) may be 0)
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))


class DivergesAtTheEnd(DenseHyperModel):
    """Units 4: the loss goes NaN in the last epoch, after finite ones."""

    def fit(self, hp, model, *args, callbacks=(), **kwargs):
        if hp.get("units_0") == 4:
            callbacks = [*callbacks, PoisonedAt(kwargs["epochs"] - 1)]
        return super().fit(hp, model, *args, callbacks=callbacks, **kwargs)


@pytest.mark.slow
def test_nan_at_the_last_epoch_scores_the_best_finite_epoch_and_stays_a_donor(tmp_path, data):
    hypermodel = DivergesAtTheEnd((64,), 10, num_layers=(1, 1), units=[4, 8],
                                  learning_rate=None)
    oracle = SequenceOracle([{"num_layers": 1, "units_0": 4}, {"num_layers": 1, "units_0": 8}],
                            objective="val_accuracy")
    tuner = RepairTuner(hypermodel, oracle, directory=tmp_path, project_name="nan_tail")
    _search(tuner, data, epochs=3)
    diverged, child = (tuner.oracle.trials[t] for t in sorted(tuner.oracle.trials))
    assert diverged.status == "COMPLETED", diverged.message
    record = tuner.lineage()[diverged.trial_id]
    assert record["non_finite_epochs"] == [2]
    assert record["checkpoint"]["epoch"] < 2
    # Scored on its best finite epoch, as KerasTuner scores a History; its checkpoint is it.
    (observation,) = diverged.metrics.get_history("val_accuracy")
    assert observation.step < 2
    model = tuner.load_model(diverged)
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    assert _accuracy(model, data) == pytest.approx(diverged.score, abs=1e-6)
    # ... and it is a valid donor.
    assert child.status == "COMPLETED"
    assert tuner.lineage()[child.trial_id]["donor"] == diverged.trial_id


def test_the_checkpoint_holds_the_best_finite_epoch_and_is_written_once_at_the_end(tmp_path):
    from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = str(tmp_path / "checkpoint.weights.h5")
    inner = SaveBestEpoch(keras_tuner.Objective("val_accuracy", "max"), path)
    saves = []
    guard = checkpoints.BestEpochGuard(inner, lambda m, epoch: saves.append((m, epoch)))
    guard.set_model(model)
    epochs = [{"loss": 1.0, "val_accuracy": 0.5},
              {"loss": float("nan"), "val_accuracy": 0.9},  # diverged weights
              {"loss": 0.9, "val_accuracy": float("inf")},
              {"loss": 0.8, "val_accuracy": 0.6},
              {"loss": 0.8, "val_accuracy": 0.55}]
    for epoch, logs in enumerate(epochs):
        model.set_weights([np.full_like(w, epoch) for w in model.get_weights()])
        guard.on_epoch_end(epoch, logs)
    assert not os.path.exists(path) and saves == []  # held in memory until the fit ends
    guard.on_train_end()
    assert saves == [(model, 3)] and inner.best_value == 0.6
    assert all(np.all(w == 4) for w in model.get_weights())  # the trained weights stay
    loaded = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    loaded.load_weights(path)
    assert all(np.all(w == 3) for w in loaded.get_weights())
    guard.on_train_end()  # nothing new held: no second write
    assert len(saves) == 1


# -- Hyperband continuing a trial that grew ----------------------------------------------


def test_hyperband_continues_a_grown_trial_in_its_grown_architecture(tmp_path):
    from kt_nasrepair import with_repair

    hypermodel = DenseHyperModel((64,), 10, num_layers=(1, 1), units=[4], learning_rate=None)
    tuner = with_repair(keras_tuner.Hyperband)(hypermodel, objective="val_accuracy",
                                               max_epochs=3, directory=tmp_path)
    hp = keras_tuner.HyperParameters()
    hp.values.update({"num_layers": 1, "units_0": 4})
    parent = hypermodel.build(hp)
    grown = morph.widen(parent, morph.describe(parent)[0]["name"], 8, seed=0)
    grown.compile_from_config(parent.get_compile_config())
    trial_dir = tuner.get_trial_dir("parent")
    os.makedirs(trial_dir, exist_ok=True)
    grown.save_weights(tuner._get_checkpoint_fname("parent"))
    with open(checkpoints.architecture_fname(trial_dir), "w") as f:  # as a growth stores it
        json.dump({"model": grown.to_json(), "compile": grown.get_compile_config()}, f)
    with open(tuner._get_build_config_fname("parent"), "w") as f:
        json.dump(grown.get_build_config(), f)
    # What Hyperband's next round builds for the continued trial: the grown model, with the
    # parent's weights (Hyperband alone loads them into a 4-unit model and fails).
    hp.values.update({"tuner/trial_id": "parent", "tuner/epochs": 3, "tuner/initial_epoch": 1})
    model = tuner._try_build(hp)
    assert morph.hidden_widths(model) == [8]
    for expected, loaded in zip(grown.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(expected, loaded)


# -- 5. data with a trailing axis of 1 ---------------------------------------------------


def test_data_with_a_trailing_unit_axis_warm_starts(tmp_path, data):
    (x, y), (x_val, y_val) = data
    data = (x[..., None], y), (x_val[..., None], y_val)  # (n, 64, 1): Keras feeds it to (64,)
    hypermodel = DenseHyperModel((64,), 10, num_layers=(1, 1), units=[4, 8], learning_rate=None)
    oracle = SequenceOracle([{"num_layers": 1, "units_0": 4}, {"num_layers": 1, "units_0": 8}],
                            objective="val_accuracy")
    tuner = RepairTuner(hypermodel, oracle, directory=tmp_path, project_name="trailing")
    _search(tuner, data, epochs=1)
    first, second = sorted(tuner.oracle.trials)
    record = tuner.lineage()[second]
    assert record["donor"] == first, record["reason"]
    assert record["max_deviation"] < donors_lib.MAX_DEVIATION


# -- KerasTuner internals the mixin relies on --------------------------------------------


def test_keras_tuner_internals_used_by_the_mixin_exist(tmp_path):
    """Fails loudly when a keras-tuner release drops what RepairMixin uses (checked on 1.4)."""
    for name in ("_try_build", "_build_hypermodel", "_get_checkpoint_fname",
                 "_get_build_config_fname"):
        assert callable(getattr(keras_tuner.Tuner, name, None)), name
    assert callable(keras_tuner.engine.tuner.maybe_distribute)
    # The best-epoch checkpoint callback run_trial passes on is recognised and guarded.
    tuner = RepairTuner(DenseHyperModel((64,), 10), objective="val_accuracy", max_trials=1,
                        directory=tmp_path)
    seen = []
    tuner._build_and_fit_model = lambda trial, *a, **kw: seen.extend(kw["callbacks"]) or 0.5
    trial = tuner.oracle.create_trial("tuner0")
    tuner.run_trial(trial, epochs=1)
    fname = tuner._get_checkpoint_fname(trial.trial_id)
    (callback,) = [cb for cb in seen if checkpoints.is_best_epoch_callback(cb, fname)]
    assert hasattr(callback, "best_value") and callback.objective.name == "val_accuracy"
