"""Shape-stable searches: one compile for every trial, compact checkpoints, same results."""

import keras
import keras_tuner
import numpy as np
import pytest

from kt_nasrepair import DenseHyperModel, NeuralRepair, RepairTuner



def _space(mode=True, per_layer_units=True):
    return DenseHyperModel(input_shape=(64,), num_classes=10, num_layers=(1, 3),
                           units=(8, 32, 8), per_layer_units=per_layer_units,
                           learning_rate=(1e-3, 1e-2), shape_stable=mode)


def _data(digits_data, n=400):
    (x, y), _ = digits_data
    return x[:n], y[:n], x[n:n + 200], y[n:n + 200]


# Only the count needs a compiling backend; the rest of this file runs on any backend.
@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="torch traces nothing: there is no compile to count")
def test_a_search_of_several_architectures_traces_the_train_step_once(tmp_path, digits_data):
    x, y, xv, yv = _data(digits_data)
    # One width for all layers: 12 architectures, many reachable from others, so warm starts
    # are part of what is checked.
    hypermodel = _space(per_layer_units=False)
    traces = []
    tuner = RepairTuner(hypermodel, objective="val_accuracy", max_trials=8, seed=3,
                        donor_pool=1.0,
                        directory=tmp_path, project_name="p")
    # batch 40 divides 400 and 200: every batch has one shape.
    tuner.search(x, y, epochs=2, batch_size=40, validation_data=(xv, yv), verbose=0,
                 callbacks=[keras.callbacks.LambdaCallback(
                     on_train_end=lambda logs: traces.append(hypermodel.runner.train_traces))])
    trials = tuner.oracle.trials.values()
    shapes = {(t.hyperparameters.get("num_layers"), t.hyperparameters.get("units"))
              for t in trials}
    assert len(shapes) >= 4  # several architectures ...
    # ... traced by the first trial only (TensorFlow traces a tf.function twice at its first
    # call, JAX once).
    assert len(traces) >= 8 and set(traces) == {traces[0]} and traces[0] <= 2
    assert len(hypermodel.runner.padded_models) == 1
    lineage = tuner.lineage()
    assert {r["fit_mode"] for r in lineage.values()} == {"shape_stable"}
    assert any(r["donor"] is not None for r in lineage.values())  # warm starts still happen


def test_load_model_returns_the_trials_own_shape_equal_to_the_padded_one(tmp_path,
                                                                          digits_data):
    x, y, xv, yv = _data(digits_data)
    hypermodel = _space()
    tuner = RepairTuner(hypermodel, objective="val_accuracy", max_trials=3, seed=5,
                        directory=tmp_path, project_name="p")
    tuner.search(x, y, epochs=2, validation_data=(xv, yv), verbose=0)
    for trial in tuner.oracle.trials.values():
        model = tuner.load_model(trial)
        hp = trial.hyperparameters
        widths = [hp.get(f"units_{i}") for i in range(hp.get("num_layers"))]
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        assert [layer.units for layer in dense] == widths + [10]
        padded, reason = hypermodel.runner.prepare(model)
        assert padded is not None, reason
        np.testing.assert_allclose(padded.predict(xv, verbose=0), model.predict(xv, verbose=0),
                                   atol=1e-5)
        # The checkpoint is the trial's best epoch: it scores what the oracle recorded.
        accuracy = model.evaluate(xv, yv, verbose=0, return_dict=True)["accuracy"]
        assert accuracy == pytest.approx(trial.score, abs=1e-6)


def test_scores_agree_with_the_compact_mode(digits_data):
    x, y, xv, yv = _data(digits_data, n=600)
    hp = keras_tuner.HyperParameters()
    hp.values.update(num_layers=2, units_0=32, units_1=16, learning_rate=3e-3)
    histories = {}
    for mode in (True, False):
        keras.utils.set_random_seed(7)
        hypermodel = _space(mode)
        model = hypermodel.build(hp)
        histories[mode] = hypermodel.fit(hp, model, x, y, epochs=3, shuffle=False,
                                         validation_data=(xv, yv), verbose=0).history
        assert hypermodel.runner.last_mode == ("shape_stable" if mode else "compact")
    # Same seed, same initial weights, no shuffling: only the order of float sums differs.
    np.testing.assert_allclose(histories[True]["val_loss"], histories[False]["val_loss"],
                               rtol=1e-3)
    np.testing.assert_allclose(histories[True]["val_accuracy"],
                               histories[False]["val_accuracy"], atol=0.01)


def test_models_it_cannot_run_are_fitted_compact_with_the_reason(digits_data):
    x, y, _, _ = _data(digits_data, n=64)
    hypermodel = _space()
    runner = hypermodel.runner
    wide = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])
    wide.compile(optimizer="adam", loss="crossentropy")
    hypermodel.fit(None, wide, x, y, epochs=1, verbose=0)
    assert runner.last_mode == "compact" and "exceed" in runner.last_reason

    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    repair = NeuralRepair(monitor="loss", probe_data=x[:32])
    hypermodel.fit(hp, model, x, y, epochs=1, verbose=0, callbacks=[repair])
    assert runner.last_mode == "compact" and "NeuralRepair" in runner.last_reason

    off = _space(False)
    off.fit(hp, off.build(hp), x, y, epochs=1, verbose=0)
    assert off.runner.last_mode == "compact" and off.runner.last_reason == "shape_stable=False"
    assert runner.train_traces == 0  # nothing above ran padded


@pytest.mark.parametrize("value", [1, "yes", None])
def test_shape_stable_argument_is_checked(value):
    with pytest.raises(ValueError, match="shape_stable"):
        DenseHyperModel(input_shape=(4,), num_classes=2, shape_stable=value)


def test_auto_pays_for_padding_only_where_tracing_costs_more():
    from kt_nasrepair.shape_stable.runner import TF_MAX_EXTRA_MACS, auto_enabled, dense_macs

    seed_space = dense_macs(784, [10] * 10, 10)  # 8,840 multiply-adds per sample
    default_space = dense_macs(784, [512] * 4, 10)  # 1.19 M
    assert auto_enabled("jax", default_space, 1000, 1e9) == (True, "")
    assert auto_enabled("torch", seed_space, 100, 10)[0] is False
    # TensorFlow, the README main job (3,200 samples x 3 epochs): the seed space pays ...
    assert auto_enabled("tensorflow", seed_space, dense_macs(784, [3], 10), 9600)[0]
    # ... the default space does not, except for a trial as large as the padded network.
    enabled, reason = auto_enabled("tensorflow", default_space, dense_macs(784, [128], 10), 9600)
    assert not enabled and "tracing" in reason
    assert auto_enabled("tensorflow", default_space, default_space, 9600)[0]
    assert (default_space - dense_macs(784, [128], 10)) * 9600 > TF_MAX_EXTRA_MACS
    # Unknown sample counts (a dataset): the padded network's size decides.
    assert auto_enabled("tensorflow", seed_space, 0, None)[0]
    assert not auto_enabled("tensorflow", default_space, 0, None)[0]
