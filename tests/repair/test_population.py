"""RepairTuner(population=K): trials trained together, each reported as if alone."""

import re

import keras
import keras_tuner
import pytest
from sklearn.datasets import load_digits

import kt_nasrepair
from kt_nasrepair import DenseHyperModel, RepairTuner
from kt_nasrepair.hypermodel import units_name


@pytest.fixture(scope="module")
def data():
    digits = load_digits()
    x, y = (digits.data[:600] / 16).astype("float32"), digits.target[:600]
    return (x[:450], y[:450]), (x[450:], y[450:])


def _hypermodel():
    return DenseHyperModel(input_shape=(64,), num_classes=10, num_layers=(1, 2),
                           units=(4, 16, 4), learning_rate=None)


def _tuner(tmp_path, hypermodel=None, **kwargs):
    kwargs.setdefault("max_trials", 6)
    tuner = RepairTuner(hypermodel or _hypermodel(), objective="val_accuracy", seed=3,
                        directory=tmp_path, project_name="p", **kwargs)
    tuner.show_progress = False
    return tuner


def _widths(hp):
    return [hp.values[units_name(i)] for i in range(hp.values["num_layers"])]


class StopDeepModels(keras.callbacks.Callback):
    """Stops the fit of a model with more than one hidden layer after its first epoch."""

    def on_epoch_end(self, epoch, logs=None):
        if len(self.model.layers) > 2:
            self.model.stop_training = True


def test_trials_train_together_and_are_scored_checkpointed_and_loaded_as_alone(
        tmp_path, data, monkeypatch):
    from kt_nasrepair.repair import population

    clears = []
    monkeypatch.setattr(population, "clear_eager_kernel_cache", lambda: clears.append(1))
    (x, y), validation = data
    tuner = _tuner(tmp_path, population=4, warm_start="none")
    traces = []
    tuner.search(x, y, epochs=2, validation_data=validation, verbose=0,
                 callbacks=[keras.callbacks.LambdaCallback(on_train_end=lambda logs: traces.append(
                     sum(p.train_traces for p in tuner.population_programs.values())))])
    trials = tuner.oracle.trials
    assert len(trials) == 6 and all(t.status == "COMPLETED" for t in trials.values())
    lineage = tuner.lineage()
    rounds = {r["fit_mode"] for r in lineage.values()}
    assert all(m.startswith("population (round") for m in rounds), rounds
    assert len(rounds) == 2  # 4 trials, then the last 2
    for trial in trials.values():
        model = tuner.load_model(trial)
        assert [layer.units for layer in model.layers[:-1]] == _widths(trial.hyperparameters)
        _, accuracy = model.evaluate(*validation, verbose=0)
        assert accuracy == pytest.approx(trial.score, abs=1e-6)  # its best epoch's checkpoint
        assert lineage[trial.trial_id]["epochs_trained"] == 2
    assert len(tuner.population_programs) == 1  # the whole space in one program
    (program,) = tuner.population_programs.values()
    assert program.steps_per_execution == -(-len(x) // 32)  # one call of it an epoch
    # XLA on TensorFlow too, where a member's config holds Keras's resolved False.
    assert program.jit_compile is (keras.backend.backend() in ("tensorflow", "jax"))
    # Traced by the first round only (TensorFlow traces a tf.function twice at its first
    # call, JAX once).
    assert len(traces) == 6 and set(traces) == {traces[0]} and 1 <= traces[0] <= 2
    assert clears == []  # its instantiated program is kept between rounds (not every round)


def test_early_stopping_and_the_warm_budget_act_per_trial(tmp_path, data):
    (x, y), validation = data
    tuner = _tuner(tmp_path, population=3, max_trials=6, warm_epochs=1, donor_pool=1.0)
    tuner.search(x, y, epochs=3, validation_data=validation, verbose=0,
                 callbacks=[StopDeepModels()])
    lineage = tuner.lineage()
    for trial_id, trial in tuner.oracle.trials.items():
        record = lineage[trial_id]
        assert trial.status == "COMPLETED"
        deep = trial.hyperparameters.values["num_layers"] > 1
        if deep:
            assert record["epochs_trained"] == 1, record
        elif record["donor"] is not None and not record["promoted"]:
            assert record["epochs_trained"] == 1, record  # stopped at its warm budget
        else:
            assert record["epochs_trained"] == 3, record
    promoted = [r for r in lineage.values() if r.get("promoted")]
    for record in promoted:  # a promoted member continued in the population it started in
        assert record["fit_mode"].startswith("population (round")
    mixed = {}
    for trial_id, trial in tuner.oracle.trials.items():
        mixed.setdefault(lineage[trial_id]["fit_mode"], set()).add(
            trial.hyperparameters.values["num_layers"])
    assert any(len(depths) == 2 for depths in mixed.values()), mixed  # stopped beside others


def test_a_diverging_member_fails_alone_and_the_other_trains_as_beside_a_sane_one(
        tmp_path, data):
    from tests.repair._repair_support import SequenceOracle

    (x, y), validation = data

    def search(unstable_rate):
        def build(hp):
            units = hp.Choice("units", [8, 16])
            model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(units, "relu"),
                                      keras.layers.Dense(10, "softmax")])
            rate = unstable_rate if units == 16 else 1e-2
            model.compile(optimizer=keras.optimizers.SGD(rate),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            return model

        oracle = SequenceOracle([{"units": 16}, {"units": 8}], objective="val_accuracy")
        tuner = RepairTuner(build, oracle, population=2, warm_start="none",
                            directory=tmp_path, project_name=f"rate_{unstable_rate:g}")
        tuner.show_progress = False
        keras.utils.set_random_seed(0)
        tuner.search(x, y, epochs=3, validation_data=validation, verbose=0)
        return [tuner.oracle.trials[t] for t in sorted(tuner.oracle.trials)], tuner.lineage()

    (diverged, other), lineage = search(1e12)
    assert diverged.status == "FAILED" and "diverged" in diverged.message
    assert other.status == "COMPLETED"
    assert {r["fit_mode"].split(":")[0] for r in lineage.values()} == {
        "population (round 1"}, lineage
    (_, beside_sane), _ = search(1e-2)
    assert other.score == beside_sane.score


def test_each_execution_of_a_trial_trains_in_a_population(tmp_path, data):
    # KerasTuner runs a trial's executions one after another in its loop: each execution's
    # fit is a member of a population beside other trials' fits.
    (x, y), validation = data
    tuner = _tuner(tmp_path, population=2, max_trials=4, executions_per_trial=2)
    tuner.search(x, y, epochs=2, validation_data=validation, verbose=0)
    lineage = tuner.lineage()
    rounds = set()
    for trial_id, trial in tuner.oracle.trials.items():
        record = lineage[trial_id]
        assert trial.status == "COMPLETED", trial.message
        assert record["execution"] == 1 and record["fit_mode"].startswith("population ("), record
        rounds.add(int(re.match(r"population \(round (\d+)", record["fit_mode"]).group(1)))
        model = tuner.load_model(trial)
        assert [layer.units for layer in model.layers[:-1]] == _widths(trial.hyperparameters)
    assert max(rounds) >= 4  # 8 fits, at most 2 a round: the last ones ran in round 4 or later


def test_hyperband_trials_of_different_brackets_train_together(tmp_path, data):
    (x, y), validation = data

    def build_model(hp):
        model = keras.Sequential([keras.Input((64,))] + [
            keras.layers.Dense(hp.Int(f"units_{i}", 4, 32, step=4), "relu")
            for i in range(hp.Int("layers", 1, 2))] + [keras.layers.Dense(10, "softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    tuner = kt_nasrepair.with_repair(keras_tuner.Hyperband)(
        build_model, objective="val_accuracy", max_epochs=3, factor=3, seed=2, population=8,
        directory=tmp_path, project_name="hb")
    tuner.show_progress = False
    tuner.search(x, y, validation_data=validation, verbose=0)
    lineage, trials = tuner.lineage(), tuner.oracle.trials
    assert all(t.status == "COMPLETED" for t in trials.values())
    fused = [t for t in trials.values()
             if lineage[t.trial_id]["fit_mode"].startswith("population (")]
    # Each member keeps its bracket's epoch budget inside the one program.
    assert len({t.hyperparameters.values["tuner/bracket"] for t in fused}) == 2, {
        t.trial_id: (t.hyperparameters.values, lineage[t.trial_id]["fit_mode"])
        for t in trials.values()}
    for trial in trials.values():
        values = trial.hyperparameters.values
        assert lineage[trial.trial_id]["epochs_trained"] == (
            values["tuner/epochs"] - values["tuner/initial_epoch"])


def _user_build_model(hp):
    """A user's build_model: a Dense stack, or a small Conv net."""
    if hp.Boolean("conv"):
        model = keras.Sequential([keras.Input((64,)), keras.layers.Reshape((8, 8, 1)),
                                  keras.layers.Conv2D(4, 3, activation="relu"),
                                  keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    else:
        model = keras.Sequential([keras.Input((64,)),
                                  keras.layers.Dense(hp.Choice("units", [8, 16]), "relu"),
                                  keras.layers.Dense(10, "softmax")])
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_a_users_dense_model_joins_a_population_and_a_conv_model_fits_alone(tmp_path, data):
    (x, y), validation = data
    tuner = kt_nasrepair.with_repair(keras_tuner.RandomSearch)(
        _user_build_model, objective="val_accuracy", max_trials=6, seed=5, population=3,
        directory=tmp_path, project_name="p")
    tuner.show_progress = False
    tuner.search(x, y, epochs=1, validation_data=validation, verbose=0)
    lineage = tuner.lineage()
    modes = {}
    for trial_id, trial in tuner.oracle.trials.items():
        assert trial.status == "COMPLETED", trial.message
        modes[trial.hyperparameters.values["conv"]] = lineage[trial_id]["fit_mode"]
    assert "alone: layer 'reshape' (Reshape) is not Dense" in modes[True], modes
    assert modes[False].startswith("population ("), modes
    # Its programs are bucketed by size, not one for the whole space: no XLA on TensorFlow.
    assert {p.jit_compile for p in tuner.population_programs.values()} == {
        keras.backend.backend() == "jax"}
    for trial in tuner.oracle.trials.values():
        model = tuner.load_model(trial)
        _, accuracy = model.evaluate(*validation, verbose=0)
        assert accuracy == pytest.approx(trial.score, abs=1e-6)


def test_population_one_trains_one_trial_at_a_time(tmp_path, data):
    (x, y), validation = data
    tuner = _tuner(tmp_path, population=1, max_trials=2)
    tuner.search(x, y, epochs=1, validation_data=validation, verbose=0)
    assert tuner.population_programs == {}
    assert {r["fit_mode"] for r in tuner.lineage().values()} <= {"shape_stable", "compact"}


@pytest.mark.parametrize("population", [0, -1, 2.5, True, "many"])
def test_bad_population_is_rejected_at_construction(tmp_path, population):
    with pytest.raises(ValueError, match="population"):
        _tuner(tmp_path, population=population)


def _request(widths, inputs=784):
    from kt_nasrepair.repair.population_fit import FitRequest
    from kt_nasrepair.shape_stable import DenseSpec

    request = FitRequest(0, "t", None, None, (), {})
    request.spec = DenseSpec((inputs,), tuple(widths), "relu", None, 10, "softmax")
    return request


def test_packing_keeps_a_population_under_the_cpu_budget_and_buckets_its_shape():
    from kt_nasrepair.repair.population import CPU_MACS_BUDGET, PopulationSearch

    search = PopulationSearch(None, 8, {}, max_depth=4, max_width=512)
    search.budget = CPU_MACS_BUDGET
    wide, small = _request([512, 512, 512, 512]), [_request([40, 20]) for _ in range(7)]
    assert search._pack([wide, *small]) == [wide]  # 1.2M multiply-adds: nothing fits beside it
    packed = search._pack([small[0], wide, *small[1:]])
    assert packed == small  # the seven small ones, the wide one left for another round
    assert search._shape(packed) == (2, 64)  # depth and width rounded up to powers of two
    search.budget = None  # an accelerator: no cap, the whole space in one program
    assert search._pack([wide, *small]) == [wide, *small]
    assert search._shape([wide, *small]) == (4, 512)


@pytest.mark.parametrize("method, error, reason", [
    ("fit", RuntimeError("out of memory"), "the population failed: out of memory"),
    ("compile_members", ValueError("unknown loss"),
     "the population could not be built: unknown loss"),
])
def test_a_population_that_fails_before_its_first_epoch_falls_back_to_one_at_a_time(
        tmp_path, data, monkeypatch, method, error, reason):
    from kt_nasrepair.shape_stable.population import PopulationDenseModel

    def broken(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(PopulationDenseModel, method, broken)
    (x, y), validation = data
    tuner = _tuner(tmp_path, population=3, max_trials=3, warm_start="none")
    tuner.search(x, y, epochs=1, validation_data=validation, verbose=0)
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    modes = {r["fit_mode"] for r in tuner.lineage().values()}
    assert modes == {f"shape_stable; alone: {reason}"}, modes


def test_auto_population_size_follows_backend_and_budget():
    from kt_nasrepair.repair import population

    assert population.auto_population_size("tensorflow") == 8
    assert population.auto_population_size("tensorflow", max_trials=20) == 5
    assert population.auto_population_size("tensorflow", max_trials=4) == 1
    assert population.auto_population_size("torch", max_trials=100) == 1
    assert population.auto_population_size("jax", max_trials=40) == 8


def test_trials_of_different_activations_share_one_program(tmp_path, data):
    (x, y), validation = data

    def build_model(hp):
        model = keras.Sequential([keras.Input((64,)),
                                  keras.layers.Dense(hp.Choice("units", [8, 16]),
                                                     hp.Choice("activation", ["relu", "tanh"])),
                                  keras.layers.Dense(10, "softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    oracle = keras_tuner.oracles.RandomSearchOracle(objective="val_accuracy", max_trials=6,
                                                    seed=3)
    tuner = kt_nasrepair.with_repair(keras_tuner.Tuner)(
        oracle, build_model, population=4, warm_start="none", directory=tmp_path,
        project_name="p")
    tuner.show_progress = False
    tuner.search(x, y, epochs=1, validation_data=validation, verbose=0)
    trials = tuner.oracle.trials.values()
    lineage = tuner.lineage()
    rounds = {}
    for trial in trials:
        rounds.setdefault(lineage[trial.trial_id]["fit_mode"], set()).add(
            trial.hyperparameters.values["activation"])
    assert all(mode.startswith("population (round") for mode in rounds), rounds
    assert {"relu", "tanh"} in rounds.values(), rounds  # one program ran both
    (program,) = tuner.population_programs.values()
    assert program.activations == ("relu", "tanh")
    for trial in trials:  # each scored on its own activation, as if alone
        _, accuracy = tuner.load_model(trial).evaluate(*validation, verbose=0)
        assert accuracy == pytest.approx(trial.score, abs=1e-6)
