import itertools

import keras
import keras_tuner
import numpy as np
import pytest

from kt_nasrepair import DenseHyperModel


def _dense_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def _param_count(widths, n_in, n_out):
    sizes = [n_in, *widths, n_out]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def test_seed_preset_has_exactly_100_configurations_and_all_build():
    hypermodel = DenseHyperModel.mnist_seed()
    assert hypermodel.search_space_size() == 100
    seen = set()
    for depth, width in itertools.product(range(1, 11), range(1, 11)):
        hp = keras_tuner.HyperParameters()
        hp.Fixed("num_layers", depth)
        hp.Fixed("units", width)
        model = hypermodel.build(hp)
        dense = _dense_layers(model)
        assert [d.units for d in dense] == [width] * depth + [10]
        assert all(d.activation is keras.activations.relu for d in dense[:-1])
        assert dense[-1].activation is keras.activations.softmax
        assert model.count_params() == _param_count([width] * depth, 784, 10)
        assert isinstance(model.optimizer, keras.optimizers.Adam)
        assert model.loss == "crossentropy"  # categorical for one-hot labels, as the original
        seen.add((depth, width))
    assert len(seen) == 100
    # Only the two architecture hyperparameters exist in the seed space.
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    assert sorted(hp.values) == ["num_layers", "units"]
    assert (hp.get("num_layers"), hp.get("units")) == (1, 1)


def test_per_layer_units_conditioned_on_depth():
    hypermodel = DenseHyperModel(
        input_shape=(28, 28), num_classes=10, num_layers=(1, 3), units=[8, 16, 32],
        dropout=(0.0, 0.5, 0.1), learning_rate=(1e-4, 1e-2), activation=["relu", "tanh"],
    )
    hp = keras_tuner.HyperParameters()
    hp.Fixed("num_layers", 2)
    hp.Fixed("units_0", 32)
    hp.Fixed("units_1", 8)
    hp.Fixed("activation", "tanh")
    hp.Fixed("dropout", 0.2)
    hp.Fixed("learning_rate", 3e-3)
    model = hypermodel.build(hp)
    assert isinstance(model.layers[0], keras.layers.Flatten)
    dense = _dense_layers(model)
    assert [d.units for d in dense] == [32, 8, 10]
    assert dense[0].activation is keras.activations.tanh
    dropouts = [lay for lay in model.layers if isinstance(lay, keras.layers.Dropout)]
    assert [d.rate for d in dropouts] == pytest.approx([0.2, 0.2])
    np.testing.assert_allclose(float(model.optimizer.learning_rate), 3e-3, rtol=1e-6)
    assert model.count_params() == _param_count([32, 8], 784, 10)
    # units_2 is declared but inactive at depth 2; units_0/1 active.
    assert hp.is_active("units_1") and not hp.is_active("units_2")
    names = {p.name for p in hp.space}
    assert {"num_layers", "units_0", "units_1", "units_2", "activation", "dropout",
            "learning_rate"} <= names


def test_sigmoid_output_for_two_classes():
    hypermodel = DenseHyperModel((4,), 2, num_layers=(1, 1), units=(3, 3),
                                 output_activation="sigmoid", learning_rate=None)
    model = hypermodel.build(keras_tuner.HyperParameters())
    assert _dense_layers(model)[-1].units == 1
    assert model.loss == "binary_crossentropy"


def test_optimizer_instance_is_copied_per_build():
    optimizer = keras.optimizers.SGD(learning_rate=0.05)
    hypermodel = DenseHyperModel((4,), 3, optimizer=optimizer, learning_rate=None)
    a = hypermodel.build(keras_tuner.HyperParameters())
    b = hypermodel.build(keras_tuner.HyperParameters())
    assert a.optimizer is not b.optimizer and a.optimizer is not optimizer
    np.testing.assert_allclose(float(a.optimizer.learning_rate), 0.05, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_layers": (5, 2)}, "num_layers"),
        ({"num_layers": (0, 2)}, "num_layers"),
        ({"units": (0, 10)}, "units"),
        ({"units": (10, 5)}, "units"),
        ({"units": []}, "units"),
        ({"activation": "not_an_activation"}, "activation"),
        ({"num_classes": 1}, "num_classes"),
        ({"input_shape": ()}, "input_shape"),
        ({"input_shape": (28, -1)}, "input_shape"),
        ({"input_shape": "784"}, "input_shape"),
        ({"dropout": (0.5, 1.5)}, "dropout"),
        ({"learning_rate": (0.0, 0.1)}, "learning_rate"),
        ({"optimizer": "not_an_optimizer"}, "optimizer"),
        ({"output_activation": "relu"}, "output_activation"),
        ({"output_activation": "sigmoid"}, "num_classes"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, argument):
    arguments = {"input_shape": (784,), "num_classes": 10, **kwargs}
    with pytest.raises(ValueError, match=f"`{argument}`.*Received: {argument}="):
        DenseHyperModel(**arguments)


def test_random_search_runs_on_digits(tmp_path, digits_data):
    (x_train, y_train), (x_test, y_test) = digits_data
    tuner = keras_tuner.RandomSearch(
        DenseHyperModel(input_shape=(64,), num_classes=10, num_layers=(1, 2), units=(8, 32, 8)),
        objective="val_accuracy",
        max_trials=2,
        seed=1,
        directory=tmp_path,
        project_name="digits",
    )
    tuner.search(x_train, y_train, epochs=1, validation_data=(x_test, y_test), verbose=0)
    trials = tuner.oracle.get_best_trials(1)
    assert len(tuner.oracle.trials) == 2
    assert trials[0].status == "COMPLETED"
    assert 0.0 < trials[0].score <= 1.0
    best = tuner.get_best_models(1)[0]
    assert best.predict(x_test[:5], verbose=0).shape == (5, 10)



def _build(hypermodel, values):
    hp = keras_tuner.HyperParameters()
    for name, value in values.items():
        hp.Fixed(name, value)
    return hypermodel.build(hp)


@pytest.mark.slow  # three fits and two evaluations: ~11 s on 2 busy cores
@pytest.mark.parametrize(
    "hypermodel, values",
    [
        (DenseHyperModel(input_shape=(64,), num_classes=10, learning_rate=None),
         {"num_layers": 1, "units_0": 16}),
        (DenseHyperModel.mnist_seed(input_shape=(64,)), {"num_layers": 1, "units": 10}),
    ],
    ids=["default", "mnist_seed"],
)
def test_integer_and_one_hot_labels_train_the_same_with_the_default_loss(
    digits_data, hypermodel, values
):
    (x_train, y_train), (x_test, y_test) = digits_data
    x, x_val = x_train[:256], x_test[:128]
    labels, labels_val = y_train[:256].argmax(axis=1), y_test[:128].argmax(axis=1)

    def fit(y, y_val):
        keras.utils.set_random_seed(7)
        model = _build(hypermodel, values)
        history = model.fit(x, y, epochs=2, batch_size=64, shuffle=False, verbose=0,
                            validation_data=(x_val, y_val))
        return model, history.history

    runs = {
        # What keras.datasets.mnist.load_data() returns: integers of shape (n,).
        "integers (n,)": fit(labels.astype("uint8"), labels_val.astype("uint8")),
        "integers (n, 1)": fit(labels[:, None], labels_val[:, None]),
        "one-hot": fit(y_train[:256], y_test[:128]),
    }
    model, reference = runs["one-hot"]
    accuracy = np.mean(model.predict(x_val, verbose=0).argmax(axis=1) == labels_val)
    np.testing.assert_allclose(reference["val_accuracy"][-1], accuracy, atol=1e-6)
    for name, (_, history) in runs.items():
        assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"], name
        for key in history:
            np.testing.assert_allclose(history[key], reference[key], rtol=1e-4, err_msg=name)
    # A model rebuilt from the space (as `get_best_models` does) evaluates either kind.
    for y_val in (labels_val, y_test[:128]):
        rebuilt = _build(hypermodel, values)
        rebuilt.set_weights(model.get_weights())
        scores = rebuilt.evaluate(x_val, y_val, verbose=0, return_dict=True)
        np.testing.assert_allclose(scores["accuracy"], accuracy, atol=1e-6)
        np.testing.assert_allclose(scores["loss"], reference["val_loss"][-1], rtol=1e-4)

def test_a_search_with_integer_labels_completes(tmp_path, digits_data):
    (x_train, y_train), (x_test, y_test) = digits_data
    tuner = keras_tuner.RandomSearch(
        DenseHyperModel(input_shape=(64,), num_classes=10, num_layers=(1, 1), units=(8, 16, 8)),
        objective="val_accuracy", max_trials=1, seed=1, directory=tmp_path, project_name="ints",
    )
    tuner.search(x_train[:256], y_train[:256].argmax(axis=1), epochs=1,
                 validation_data=(x_test[:128], y_test[:128].argmax(axis=1)), verbose=0)
    (trial,) = tuner.oracle.trials.values()
    assert trial.status == "COMPLETED", trial.message
    assert 0.0 < trial.score <= 1.0


def test_weights_are_glorot_uniform_drawn_in_numpy_and_reproducible():
    hypermodel = DenseHyperModel(input_shape=(300,), num_classes=10, num_layers=(1, 1),
                                 units=[200])
    hp = keras_tuner.HyperParameters()
    keras.utils.set_random_seed(3)
    model = hypermodel.build(hp)
    kernel = model.layers[0].get_weights()[0]
    limit = np.sqrt(6.0 / (300 + 200))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.99 * limit
    # Uniform on [-limit, limit]: variance limit^2 / 3.
    assert np.var(kernel) == pytest.approx(limit**2 / 3, rel=0.02)
    keras.utils.set_random_seed(3)
    np.testing.assert_array_equal(hypermodel.build(hp).layers[0].get_weights()[0], kernel)
    # The saved config names Keras' own initializer: the model loads without this package.
    config = model.layers[0].get_config()["kernel_initializer"]
    assert config["class_name"] == "GlorotUniform" and config["module"] == "keras.initializers"


def test_dense_space_names_and_widths_from_values():
    from kt_nasrepair import dense_space
    from kt_nasrepair.hypermodel import NUM_LAYERS, UNITS, units_name  # the names' old home

    assert (NUM_LAYERS, UNITS, units_name(2)) == ("num_layers", "units", "units_2")
    assert dense_space.widths({"num_layers": 2, "units_0": 8, "units_1": 16}) == [8, 16]
    # Declared but inactive widths (units_2 at depth 2) are not read.
    assert dense_space.widths({"num_layers": 2, "units_0": 8, "units_1": 4, "units_2": 9}) == [
        8, 4]
    assert dense_space.widths({"num_layers": np.int64(3), "units": 5}) == [5, 5, 5]
    for values in ({}, {"num_layers": 2, "units_0": 8}, {"num_layers": 0, "units": 4},
                   {"num_layers": True, "units": 4}, {"units": 4}):
        assert dense_space.widths(values) is None, values
    # The architecture text of every build is what its values say.
    hypermodel = DenseHyperModel((4,), 3, num_layers=(1, 3), units=[2, 5],
                                 activation=["relu", "tanh"], learning_rate=None)
    hp = keras_tuner.HyperParameters()
    hp.Fixed("num_layers", 2)
    hp.Fixed("units_0", 5)
    hp.Fixed("activation", "tanh")
    model = hypermodel.build(hp)
    values = {k: v for k, v in hp.values.items() if hp.is_active(k)}
    assert [d.units for d in _dense_layers(model)[:-1]] == dense_space.widths(values) == [5, 2]
    assert dense_space.describe_architecture(values) == "5-2 tanh"
