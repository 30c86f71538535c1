"""Models built lazily (no `Input`, subclassed) are built from the trial's data, then warm-started.

The search tests use KerasTuner's getting-started `build_model` exactly as its tutorial
writes it: a `keras.Sequential()` with no `Input`.
"""

import io

import keras
import keras_tuner
import numpy as np
import pytest
from keras import layers

from kt_nasrepair import RepairTuner, with_repair
from kt_nasrepair.progress import describe_origin
from kt_nasrepair.repair import donors as donors_lib
from kt_nasrepair.repair import lazy_build

from _repair_support import SequenceOracle


def build_model(hp):
    """KerasTuner's getting-started `build_model`, unchanged (no `keras.Input`)."""
    model = keras.Sequential()
    model.add(layers.Flatten())
    model.add(
        layers.Dense(
            # Define the hyperparameter.
            units=hp.Int("units", min_value=32, max_value=512, step=32),
            activation=hp.Choice("activation", ["relu", "tanh"]),
        )
    )
    if hp.Boolean("dropout"):
        model.add(layers.Dropout(rate=0.25))
    model.add(layers.Dense(10, activation="softmax"))
    learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@pytest.fixture
def images(digits_data):
    # Digits as 8 x 8 images, as the tutorial's MNIST images go through its Flatten layer.
    (x, y), (x_val, y_val) = digits_data
    return (x[:300].reshape(-1, 8, 8), y[:300]), (x_val[:150].reshape(-1, 8, 8), y_val[:150])


def _search(tuner, images):
    (x, y), (x_val, y_val) = images
    tuner.progress_stream = io.StringIO()
    tuner.show_progress = True
    tuner.search(x, y, epochs=1, validation_data=(x_val, y_val), verbose=0)
    return tuner.progress_stream.getvalue().splitlines()


# NOTE: a later trial is reachable from an earlier one (same activation and dropout, at least
# as wide, at most 4x wider: `donors.bottleneck`): RandomSearch(seed=1) draws 96 then 320
# tanh units; RepairTuner's sequence is 64 tanh, 448 relu, then 192 tanh units.
_SEQUENCE = [{"units": 64, "activation": "tanh", "dropout": False, "lr": 1e-3},
             {"units": 448, "activation": "relu", "dropout": False, "lr": 1e-3},
             {"units": 192, "activation": "tanh", "dropout": False, "lr": 1e-3}]


@pytest.mark.parametrize("make_tuner, trials", [
    (lambda d: RepairTuner(build_model, SequenceOracle(_SEQUENCE, objective="val_accuracy"),
                           donor_pool=1.0, directory=d), 3),
    (lambda d: with_repair(keras_tuner.RandomSearch)(
        build_model, objective="val_accuracy", max_trials=2, seed=1, directory=d), 2),
], ids=["RepairTuner", "with_repair(RandomSearch)"])
def test_getting_started_build_model_warm_starts(make_tuner, trials, images, tmp_path):
    tuner = make_tuner(str(tmp_path))
    lines = _search(tuner, images)
    lineage = tuner.lineage()
    assert len(lineage) == trials
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())
    for record in lineage.values():
        assert "not built" not in (record["reason"] or ""), record["reason"]
    warm = [tid for tid, record in lineage.items() if record["donor"] is not None]
    assert len(warm) == 1, lineage
    assert sum(" | warm from " in line for line in lines) == 1, lines
    # The warm-started model is the tutorial's, built from the data's shape (batch axis free).
    model = tuner.load_model(tuner.oracle.trials[warm[0]])
    assert model.input_shape == (None, 8, 8)
    assert lines[0].split(" | ")[2] == "cold (no finished trial yet)"


class Subclassed(keras.Model):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.flatten = layers.Flatten()
        self.hidden = layers.Dense(units, activation="relu")
        self.out = layers.Dense(10, activation="softmax")

    def call(self, x):
        return self.out(self.hidden(self.flatten(x)))


def build_subclassed(hp):
    model = Subclassed(hp.Choice("units", [8, 16]))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_subclassed_model_is_built_and_says_why_it_trains_cold(images, tmp_path):
    oracle = SequenceOracle([{"units": 8}, {"units": 16}], objective="val_accuracy")
    tuner = RepairTuner(build_subclassed, oracle, directory=str(tmp_path))
    lines = _search(tuner, images)
    record = tuner.lineage()[max(tuner.oracle.trials)]
    assert record["donor"] is None and record["short_reason"] == "subclassed model"
    assert "is a subclassed model" in record["reason"], record["reason"]
    assert " | cold (subclassed model) | " in lines[1], lines


def test_unmorphable_model_says_not_a_dense_chain():
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3), layers.Flatten(),
                              layers.Dense(10)])
    assert donors_lib.refusal_label(model) == "not a Dense chain"
    assert donors_lib.refusal_label(keras.Sequential([layers.Dense(3)])) == "model not built"
    assert describe_origin({"donor": None, "short_reason": "not a Dense chain"}) == (
        "cold (not a Dense chain)")


# -- building from one sample of the data, without a search --------------------------------


def _tutorial_model():
    return build_model(keras_tuner.HyperParameters())


def test_array_data_builds_the_model_with_a_free_batch_axis():
    x = np.zeros((5, 8, 8), "float32")
    model, args, kwargs, why = lazy_build.build_from_data(_tutorial_model(), (x,), {},
                                                          rebuild=None)
    assert why is None and model.built and args[0] is x
    assert model.input_shape == (None, 8, 8)
    # Any batch size trains it, and what load_model will read is the free batch axis.
    model.fit(x, np.zeros((5, 10)), batch_size=2, epochs=1, verbose=0)
    assert model.get_build_config() == {"input_shape": (None, 8, 8)}


@pytest.mark.parametrize("x, shapes", [
    (np.zeros((4, 3, 2)), (None, 3, 2)),
    ([np.zeros((4, 3)), np.zeros((4, 5))], [(None, 3), (None, 5)]),
    ({"a": np.zeros((4, 3))}, {"a": (None, 3)}),
])
def test_input_shapes_of_arrays(x, shapes):
    assert lazy_build.input_shapes(x) == shapes


def test_input_shapes_of_a_dataset_and_a_py_dataset():
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices(
        (np.zeros((6, 8, 8), "float32"), np.zeros((6, 10)))).batch(4)
    assert lazy_build.input_shapes(dataset) == (None, 8, 8)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return np.zeros((4, 6), "float32"), np.zeros((4, 10))

    assert lazy_build.input_shapes(Batches()) == (None, 6)


def test_a_generator_is_peeked_and_given_back_whole():
    batches = [(np.full((2, 8, 8), i, "float32"), np.zeros((2, 10))) for i in range(3)]
    model, args, kwargs, why = lazy_build.build_from_data(
        _tutorial_model(), (), {"x": iter(batches)}, rebuild=None)
    assert why is None and model.input_shape == (None, 8, 8)
    assert [float(b[0][0, 0, 0]) for b in kwargs["x"]] == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("x, why", [
    (None, "no `x` given to search()"),
    (iter([]), "an exhausted iterator"),
    ("digits.csv", "an `x` of type str"),
])
def test_data_without_a_sample_leaves_the_model_unbuilt_with_the_reason(x, why):
    model, _, _, reason = lazy_build.build_from_data(_tutorial_model(), (x,), {}, rebuild=None)
    assert not model.built
    assert reason == f"no input shape in the data: {why}"


def test_a_failed_build_gets_a_fresh_model():
    class Fails(keras.Model):
        def build(self, input_shape):
            raise RuntimeError("half built")

    fresh = _tutorial_model()
    model, _, _, why = lazy_build.build_from_data(
        Fails(), (np.zeros((2, 4)),), {}, rebuild=lambda: fresh)
    assert model is fresh
    assert why == "building it from the input shape (None, 4) failed (RuntimeError: half built)"
