"""Tests for the repair callbacks (`NeuralRepair` and its parts) and the dormant-unit math."""

from __future__ import annotations

import copy
import json

import keras
import keras_tuner
import numpy as np
import pytest
from keras_tuner.errors import FailedTrialError

from kt_nasrepair.repair import _dormant
from kt_nasrepair.repair import GrowOnPlateau, RecoverNonFinite, RecycleDormant
from kt_nasrepair.repair.callback import NeuralRepair

# Planted dead ReLU units: (layer index among the Dense layers, unit indices).
DEAD = {0: [1, 5], 1: [3]}


def _data(n=240, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x @ rng.normal(size=(features, 1))).astype("float32")
    return x, y


def _mlp(optimizer="adam"):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(6, activation="relu"),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _plant_dead_units(model, dead=DEAD):
    """Zero incoming weights and a negative bias: ReLU outputs 0 for every input."""
    dense_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for index, units in dead.items():
        kernel, bias = dense_layers[index].get_weights()
        kernel[:, units] = 0.0
        bias[units] = -1.0
        dense_layers[index].set_weights([kernel, bias])
    return dense_layers


def _hidden(model, x, layer):
    return keras.Model(model.inputs, layer.output).predict(x, verbose=0)


# ------------------------------------------------------------------ pure math


def test_dormant_scores_match_hand_computed_values():
    activations = np.array([[1.0, 0.0, -3.0], [3.0, 0.0, 1.0]])
    # Per-unit mean |h|: [2, 0, 2]; layer mean 4/3.
    np.testing.assert_allclose(
        _dormant.dormant_scores(activations), [1.5, 0.0, 1.5], rtol=1e-12
    )
    np.testing.assert_allclose(_dormant.dormant_scores(np.zeros((3, 2))), [0.0, 0.0])


def test_dormant_scores_rejects_a_single_axis():
    with pytest.raises(ValueError, match=r"activations.shape=\(3,\)"):
        _dormant.dormant_scores(np.ones(3))


def test_recycle_units_replaces_incoming_and_zeroes_outgoing():
    kernel, bias, next_kernel = np.ones((2, 3)), np.ones(3), np.ones((3, 2))
    fresh = np.full((2, 3), 7.0)
    dormant = np.array([False, True, False])
    new_kernel, new_bias, new_next = _dormant.recycle_units(
        kernel, bias, next_kernel, dormant, fresh
    )
    np.testing.assert_array_equal(new_kernel, [[1, 7, 1], [1, 7, 1]])
    np.testing.assert_array_equal(new_bias, [1, 0, 1])
    np.testing.assert_array_equal(new_next, [[1, 1], [0, 0], [1, 1]])
    np.testing.assert_array_equal(kernel, np.ones((2, 3)))  # inputs untouched
    with pytest.raises(ValueError, match="dormant.shape"):
        _dormant.recycle_units(kernel, bias, next_kernel, dormant[:2], fresh)


# -------------------------------------------------------- dormant recycling


def test_planted_dead_units_are_recycled_without_changing_outputs():
    x, _ = _data()
    model = _mlp()
    dense_layers = _plant_dead_units(model)
    callback = NeuralRepair(probe_data=x, seed=3)
    callback.set_model(model)
    callback.on_train_begin()
    before = model.predict(x, verbose=0)
    logs = {}
    callback.on_epoch_end(0, logs)

    assert logs == {}  # counts stay on the callback, out of the trial's metrics
    assert callback.total_repaired == 3
    assert callback.repair_history == [
        {
            "epoch": 0,
            "repaired_units": 3,
            "per_layer": {dense_layers[0].name: 2, dense_layers[1].name: 1},
        }
    ]
    np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-5, atol=1e-6)
    for index, units in DEAD.items():
        kernel, bias = dense_layers[index].get_weights()
        assert np.all(np.abs(kernel[:, units]).sum(axis=0) > 0)
        np.testing.assert_array_equal(bias[units], 0.0)
        np.testing.assert_array_equal(dense_layers[index + 1].get_weights()[0][units], 0.0)
        # Fresh incoming weights make the units fire again on the probe batch.
        assert np.all(np.abs(_hidden(model, x, dense_layers[index])[:, units]).mean(axis=0) > 0)


def test_recycled_units_learn_during_fit_and_are_not_recycled_again():
    x, y = _data()
    model = _mlp()
    dense_layers = _plant_dead_units(model)
    callback = NeuralRepair(probe_data=x, seed=3)
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=0, callbacks=[callback])

    assert [entry["repaired_units"] for entry in callback.repair_history] == [3, 0, 0]
    assert set(history.history) == {"loss"}
    assert callback.total_repaired == 3
    # Gradients reach the silenced outgoing rows again: the units are in use.
    for index, units in DEAD.items():
        outgoing = dense_layers[index + 1].get_weights()[0][units]
        assert np.all(np.abs(outgoing).sum(axis=1) > 1e-4)


def test_recycling_zeroes_the_optimizer_slots_of_recycled_entries():
    x, y = _data()
    model = _mlp()
    dense_layers = _plant_dead_units(model)
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    slots = [v for v in model.optimizer.variables if "_momentum" in v.name or "_velocity" in v.name]
    assert len(slots) == 12
    for slot in slots:
        slot.assign(np.ones(slot.shape, dtype="float32"))
    callback = NeuralRepair(probe_data=x, seed=0)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_epoch_end(0, {})

    prefix = dense_layers[0].kernel.path.replace("/", "_")
    kernel_moment = next(
        keras.ops.convert_to_numpy(v) for v in slots if v.name == prefix + "_momentum"
    )
    np.testing.assert_array_equal(kernel_moment[:, DEAD[0]], 0.0)
    assert np.all(np.delete(kernel_moment, DEAD[0], axis=1) == 1.0)
    next_prefix = dense_layers[1].kernel.path.replace("/", "_")
    next_velocity = next(
        keras.ops.convert_to_numpy(v) for v in slots if v.name == next_prefix + "_velocity"
    )
    np.testing.assert_array_equal(next_velocity[DEAD[0], :], 0.0)
    np.testing.assert_array_equal(next_velocity[:, DEAD[1]], 0.0)


def test_functional_chain_with_separate_activation_layers_is_repaired():
    x, _ = _data()
    inputs = keras.Input((4,))
    h = keras.layers.Dense(8)(inputs)
    h = keras.layers.ReLU()(h)
    h = keras.layers.Dropout(0.5)(h)
    h = keras.layers.Dense(5, activation="relu")(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile("adam", "mse")
    dense = model.layers[1]
    kernel, bias = dense.get_weights()
    kernel[:, [0, 2]] = 0.0
    bias[[0, 2]] = -1.0
    dense.set_weights([kernel, bias])
    callback = NeuralRepair(probe_data=x, seed=0)
    callback.set_model(model)
    callback.on_train_begin()
    before = model.predict(x, verbose=0)
    logs = {}
    callback.on_epoch_end(0, logs)

    assert callback.total_repaired == 2
    assert callback.repair_history[0]["per_layer"][dense.name] == 2
    np.testing.assert_allclose(model.predict(x, verbose=0), before, rtol=1e-5, atol=1e-6)


def test_branching_model_is_skipped_with_a_warning():
    x, _ = _data()
    inputs = keras.Input((4,))
    a = keras.layers.Dense(4, activation="relu")(inputs)
    b = keras.layers.Dense(4, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Concatenate()([a, b])))
    model.compile("adam", "mse")
    callback = NeuralRepair(probe_data=x)
    callback.set_model(model)
    callback.on_train_begin()
    logs = {}
    with pytest.warns(UserWarning, match="Dense chains only"):
        callback.on_epoch_end(0, logs)
    assert callback.total_repaired == 0 and logs == {}


def test_only_dense_layers_with_an_elementwise_path_to_the_next_dense_are_sites():
    x, _ = _data()
    inputs = keras.Input((4,))
    a = keras.layers.Dense(6, activation="relu", name="before_norm")(inputs)
    b = keras.layers.LayerNormalization()(a)  # mixes units: not repairable
    c = keras.layers.Dense(5, activation="softmax", name="softmax")(b)  # mixes units
    d = keras.layers.Dense(5, name="linear")(c)
    e = keras.layers.BatchNormalization()(d)
    f = keras.layers.LeakyReLU()(e)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(f))
    plan = _dormant.plan_repairs(model, x[:16])
    assert plan.reason is None
    assert [(dense.name, next_dense.name) for dense, _, next_dense in plan.sites] == [
        ("linear", "head")
    ]
    # A linear Dense is scored after the activation layer that follows it.
    assert isinstance(plan.chain[plan.sites[0][1]], keras.layers.LeakyReLU)


def test_learning_rate_schedule_is_left_alone_with_a_warning():
    x, y = _data()
    schedule = keras.optimizers.schedules.ExponentialDecay(5.0, 100, 0.9)
    model = _mlp(keras.optimizers.SGD(learning_rate=schedule))
    callback = NeuralRepair(recycle_dormant=False, max_recoveries=1)
    with pytest.warns(UserWarning, match="LearningRateSchedule"):
        with pytest.raises(FailedTrialError, match="max_recoveries=1"):
            model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[callback])
    assert callback.recoveries == 1


def test_missing_probe_data_warns_and_recycles_nothing():
    x, y = _data()
    model = _mlp()
    _plant_dead_units(model)
    callback = NeuralRepair(probe_size=100)
    with pytest.warns(UserWarning, match="set_probe_data"):
        history = model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert callback.repair_history == [] and callback.total_repaired == 0
    callback.set_probe_data(x)
    assert callback.probe_data.shape == (100, 4)
    callback.set_model(model)
    callback.on_train_begin()
    # Units silent on all 100 probe samples: the planted ones and any that
    # training killed on the way.
    hidden = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][:2]
    expected = sum(int((_hidden(model, x[:100], layer).max(axis=0) == 0).sum()) for layer in hidden)
    logs = {}
    callback.on_epoch_end(0, logs)
    assert expected >= 3
    assert callback.total_repaired == expected


def test_threshold_and_frequency_control_recycling():
    x, y = _data()
    model = _mlp()
    _plant_dead_units(model)
    callback = NeuralRepair(probe_data=x, frequency=2, dormant_threshold=0.0)
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])
    # Epoch 0 is skipped (frequency 2), epoch 1 finds the planted units.
    assert [(e["epoch"], e["repaired_units"]) for e in callback.repair_history] == [(1, 3)]
    assert set(history.history) == {"loss"}
    # With a threshold above every normalised score (mean 1) all hidden units go.
    callback = NeuralRepair(probe_data=x, dormant_threshold=1e9)
    callback.set_model(model)
    callback.on_train_begin()
    logs = {}
    callback.on_epoch_end(0, logs)
    assert callback.total_repaired == 8 + 6


# -------------------------------------------------------- non-finite recovery


def test_huge_learning_rate_is_recovered_and_training_ends_finite():
    x, y = _data()
    model = _mlp(keras.optimizers.SGD(learning_rate=5.0))
    callback = NeuralRepair(recycle_dormant=False, lr_factor=0.01, max_recoveries=3)
    history = model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[callback])

    assert callback.recoveries >= 1
    assert callback.failure_reason is None
    np.testing.assert_allclose(
        float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)),
        5.0 * 0.01**callback.recoveries,
        rtol=1e-5,
    )
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert np.isfinite(history.history["loss"][-1])
    final = model.evaluate(x, y, verbose=0)
    # The reduced learning rate really trains: well below the variance of y.
    assert np.isfinite(final) and final < 0.2 * float(np.mean(y**2))


def test_exhausted_recoveries_raise_failed_trial_error_with_finite_weights():
    x, y = _data()
    model = _mlp(keras.optimizers.SGD(learning_rate=1e6))
    callback = NeuralRepair(recycle_dormant=False, lr_factor=0.5, max_recoveries=2)
    with pytest.raises(FailedTrialError, match=r"after 2 recoveries \(max_recoveries=2\)"):
        model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[callback])
    assert callback.recoveries == 2
    assert "non-finite" in callback.failure_reason
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_random_search_records_the_diverging_trial_as_failed_and_goes_on(tmp_path):
    x, y = _data(n=160)

    def build_model(hp):
        model = keras.Sequential(
            [keras.Input((4,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)]
        )
        learning_rate = hp.Choice("learning_rate", [1e6, 0.01])
        model.compile(keras.optimizers.SGD(learning_rate=learning_rate), loss="mse")
        return model

    tuner = keras_tuner.RandomSearch(
        build_model,
        objective="val_loss",
        max_trials=2,
        directory=str(tmp_path),
        project_name="nan",
        seed=1,
    )
    callback = NeuralRepair(recycle_dormant=False, max_recoveries=1)
    tuner.search(
        x, y, epochs=2, batch_size=32, validation_split=0.25, verbose=0, callbacks=[callback]
    )
    trials = tuner.oracle.trials.values()
    by_lr = {trial.hyperparameters.get("learning_rate"): trial for trial in trials}
    assert set(by_lr) == {1e6, 0.01}
    assert by_lr[1e6].status == "FAILED"
    assert "RecoverNonFinite: the loss became non-finite" in by_lr[1e6].message
    assert by_lr[0.01].status == "COMPLETED"
    assert np.isfinite(by_lr[0.01].score)


# --------------------------------------------------------- growth on plateau


def _frozen_model():
    # Learning rate 0: the loss never improves, a guaranteed plateau.
    return _mlp(keras.optimizers.SGD(learning_rate=0.0))


def test_a_growth_hook_that_accepts_stops_fit():
    x, y = _data()
    callback = NeuralRepair(
        recycle_dormant=False, grow_on_plateau=True, monitor="loss", patience=2
    )
    asked = []
    callback.set_growth_hook(lambda epoch: asked.append(epoch) or True)
    history = _frozen_model().fit(x, y, epochs=10, verbose=0, callbacks=[callback])

    assert history.epoch == [0, 1, 2] and asked == [2]
    assert set(history.history) == {"loss"}
    assert callback.growth_requested is True
    assert callback.growth_requests == [2]
    with pytest.raises(AttributeError):
        callback.growth_requested = False  # read-only for callers


def test_a_growth_hook_that_refuses_lets_training_go_on():
    x, y = _data()
    callback = GrowOnPlateau(monitor="loss", patience=2)
    asked = []
    callback.set_growth_hook(lambda epoch: asked.append(epoch) and False)
    history = _frozen_model().fit(x, y, epochs=6, verbose=0, callbacks=[callback])
    assert len(history.epoch) == 6
    assert asked == callback.growth_requests == [2, 4]
    assert callback.growth_requested is False
    with pytest.raises(TypeError, match="Received: hook=3"):
        callback.set_growth_hook(3)


def test_plain_fit_only_logs_growth_requests():
    x, y = _data()
    callback = NeuralRepair(
        recycle_dormant=False, grow_on_plateau=True, monitor="loss", patience=2
    )
    history = _frozen_model().fit(x, y, epochs=6, verbose=0, callbacks=[callback])
    assert len(history.epoch) == 6
    # The first request needs a best value (epoch 0) and `patience` more epochs;
    # each later one `patience` epochs after the previous.
    assert callback.growth_requests == [2, 4]
    assert callback.growth_requested is True  # pending: nobody was asked


def test_a_fit_from_initial_epoch_continues_the_run_on_a_new_model():
    # How RepairTuner grows: the hook accepts, fit stops, the grown model fits on.
    x, y = _data()
    callback = NeuralRepair(
        probe_data=x, grow_on_plateau=True, monitor="loss", patience=1, seed=0,
        # NOTE: recycling changes the loss by float rounding; that is no improvement.
        min_delta=1e-3,
    )
    callback.set_growth_hook(lambda epoch: True)
    first = _frozen_model()
    _plant_dead_units(first)
    first.fit(x, y, epochs=5, verbose=0, callbacks=[callback])
    assert callback.growth_requests == [1] and callback.growth_requested is True
    assert callback.total_repaired == 3

    grown = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    grown.compile(keras.optimizers.SGD(learning_rate=0.0), loss="mse")
    history = grown.fit(
        x, y, epochs=5, initial_epoch=2, verbose=0, callbacks=[callback]
    )
    assert callback.model is grown
    # The plateau starts afresh (best at epoch 2, request at 3); the records carry on and
    # the grown model has no planted dead units.
    assert history.epoch == [2, 3]
    assert callback.growth_requests == [1, 3] and callback.growth_requested is True
    assert callback.total_repaired == 3
    assert [e["epoch"] for e in callback.repair_history] == [0, 1, 2, 3]
    assert callback.repair_history[-1]["repaired_units"] == 0
    # A continued fit (a promoted warm trial) clears the pending request; a refused one is
    # recorded, not pending, and training goes on.
    callback.set_growth_hook(lambda epoch: False)
    history = grown.fit(x, y, epochs=6, initial_epoch=4, verbose=0, callbacks=[callback])
    assert history.epoch == [4, 5]
    assert callback.growth_requested is False and callback.growth_requests == [1, 3, 5]


@pytest.mark.parametrize(
    "monitor, direction",
    [("val_precision", "max"), ("val_recall", "max"), ("val_auc", "max"), ("auc", "max"),
     ("val_true_positives", "max"), ("val_accuracy", "max"), ("val_acc", "max"),
     ("val_loss", "min"), ("loss", "min"), ("val_mse", "min"),
     ("val_mean_absolute_error", "min")],
)
def test_auto_mode_infers_the_direction_as_keras_tuner_does(monitor, direction):
    callback = NeuralRepair(recycle_dormant=False, grow_on_plateau=True, monitor=monitor,
                            patience=2)
    assert callback.direction == direction
    callback.set_model(_mlp())
    callback.on_train_begin()
    # The monitored value moves the good way every epoch: never a plateau.
    step = 0.1 if direction == "max" else -0.1
    for epoch in range(6):
        callback.on_epoch_end(epoch, {monitor: 0.5 + step * epoch})
    assert callback.growth_requests == []
    # ... and the bad way: a request after `patience` epochs.
    callback.on_train_begin()
    for epoch in range(3):
        callback.on_epoch_end(epoch, {monitor: 0.5 - step * epoch})
    assert callback.growth_requests == [2]


@pytest.mark.parametrize("monitor", ["val_my_metric", "f_beta", "val_precision_1"])
def test_auto_mode_refuses_a_metric_it_cannot_place(monitor):
    message = rf"monitor='{monitor}'.*Pass `mode='min'` or `mode='max'`"
    with pytest.raises(ValueError, match=message):
        NeuralRepair(grow_on_plateau=True, monitor=monitor)
    assert NeuralRepair(grow_on_plateau=True, monitor=monitor, mode="max").direction == "max"
    assert NeuralRepair(grow_on_plateau=True, monitor=monitor, mode="min").direction == "min"


def test_counters_never_reach_the_trial_metrics(tmp_path):
    # Anything written into the epoch logs becomes a metric of the KerasTuner trial
    # (results_summary, TensorBoard, the oracle's data).
    x, y = _data(n=64)

    def build(hp):
        model = _mlp(keras.optimizers.SGD(learning_rate=hp.Choice("lr", [0.0])))
        return model

    tuner = keras_tuner.RandomSearch(
        build, objective="val_loss", max_trials=1, directory=str(tmp_path), project_name="leak"
    )
    callback = NeuralRepair(probe_data=x, grow_on_plateau=True, patience=1, seed=0)
    tuner.search(x, y, epochs=3, validation_split=0.25, verbose=0, callbacks=[callback])
    trial = next(iter(tuner.oracle.trials.values()))
    assert trial.status == "COMPLETED"
    assert set(trial.metrics.metrics) == {"loss", "val_loss"}


def test_missing_monitor_warns_with_available_keys():
    x, y = _data()
    callback = NeuralRepair(recycle_dormant=False, grow_on_plateau=True, monitor="val_acc")
    with pytest.warns(UserWarning, match=r"val_acc.*Available: .*loss"):
        history = _mlp().fit(x, y, epochs=2, verbose=0, callbacks=[callback])
    assert callback.growth_requests == [] and set(history.history) == {"loss"}


# ------------------------------------------------------------ the contract


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr_factor": 1.5}, r"`lr_factor` must be a number in \(0, 1\). Received: lr_factor=1.5"),
        ({"lr_factor": 0}, r"Received: lr_factor=0"),
        ({"frequency": 0}, r"Received: frequency=0"),
        ({"probe_size": 2.5}, r"Received: probe_size=2.5"),
        ({"max_recoveries": -1}, r"Received: max_recoveries=-1"),
        ({"dormant_threshold": -0.1}, r"Received: dormant_threshold=-0.1"),
        ({"mode": "up"}, r"Received: mode='up'"),
        ({"patience": 0}, r"Received: patience=0"),
        ({"min_delta": -1.0}, r"Received: min_delta=-1.0"),
        ({"monitor": ""}, r"Received: monitor=''"),
        ({"seed": "a"}, r"Received: seed='a'"),
        ({"probe_data": np.zeros((0, 4))}, r"probe_data.shape=\(0, 4\)"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NeuralRepair(**kwargs)


def test_deepcopy_keeps_settings_and_drops_the_model_and_the_hook():
    x, y = _data()
    model = _mlp()
    callback = NeuralRepair(probe_data=x, dormant_threshold=0.05, seed=7, max_recoveries=5,
                            grow_on_plateau=True, monitor="loss")
    callback.set_growth_hook(lambda epoch: True)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    repaired = callback.total_repaired
    clone = copy.deepcopy(callback)

    assert clone._model is None and callback.model is model
    assert all(part._model is None for part in (clone.recycler, clone.recoverer, clone.grower))
    assert clone.grower._growth_hook is None and callback.grower._growth_hook is not None
    assert clone.dormant_threshold == 0.05 and clone.seed == 7 and clone.max_recoveries == 5
    np.testing.assert_array_equal(clone.probe_data, callback.probe_data)
    assert clone.probe_data is not callback.probe_data
    _plant_dead_units(model)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[clone])
    assert clone.total_repaired == 3 and callback.total_repaired == repaired  # independent


def test_a_reused_instance_starts_each_fit_afresh():
    x, y = _data()
    callback = NeuralRepair(probe_data=x, seed=0)
    model = _mlp()
    _plant_dead_units(model)
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert callback.total_repaired == 3
    model.fit(x, y, epochs=1, verbose=0, callbacks=[callback])
    assert callback.total_repaired == 0
    names = [layer.name for layer in model.layers[:2]]
    assert callback.repair_history == [
        {"epoch": 0, "repaired_units": 0, "per_layer": {names[0]: 0, names[1]: 0}}
    ]


def test_summary_is_json_serialisable_and_detached():
    x, y = _data()
    model = _mlp()
    _plant_dead_units(model)
    callback = NeuralRepair(probe_data=x, seed=0)
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])
    summary = callback.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["total_repaired"] == 3 and summary["recoveries"] == 0
    assert summary["failure_reason"] is None and summary["growth_requests"] == []
    assert [entry["repaired_units"] for entry in summary["repair_history"]] == [3, 0]
    summary["repair_history"].clear()
    assert len(callback.repair_history) == 2


# ------------------------------------------------------ the parts on their own


def test_each_part_works_on_its_own_in_a_plain_fit():
    x, y = _data()
    model = _mlp(keras.optimizers.SGD(learning_rate=5.0))
    _plant_dead_units(model)
    recycle = RecycleDormant(probe_data=x, seed=3)
    recover = RecoverNonFinite(lr_factor=0.01)
    grow = GrowOnPlateau(monitor="loss", patience=1, min_delta=1e9)
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0,
                        callbacks=[recycle, recover, grow])
    assert len(history.epoch) == 3
    assert recycle.total_repaired >= 3 and recycle.repair_history[0]["repaired_units"] >= 3
    assert recover.recoveries >= 1 and recover.failure_reason is None
    assert grow.growth_requests == [1, 2]
    assert all(np.isfinite(w).all() for w in model.get_weights())


@pytest.mark.parametrize(
    "part, kwargs, message",
    [
        (RecycleDormant, {"frequency": 0}, r"Received: frequency=0"),
        (RecycleDormant, {"probe_data": np.zeros((0, 4))}, r"probe_data.shape=\(0, 4\)"),
        (RecoverNonFinite, {"lr_factor": 1.0}, r"Received: lr_factor=1.0"),
        (GrowOnPlateau, {"patience": 0}, r"Received: patience=0"),
        (GrowOnPlateau, {"monitor": "f_beta"}, r"Pass `mode='min'` or `mode='max'`"),
    ],
)
def test_each_part_validates_its_arguments(part, kwargs, message):
    with pytest.raises(ValueError, match=message):
        part(**kwargs)
