"""Shared by the tests of tests/repair: a fixed-sequence oracle and a user's build_model."""

import keras
import keras_tuner


class SequenceOracle(keras_tuner.Oracle):
    """Proposes a fixed list of hyperparameter values, in order (tests only)."""

    def __init__(self, sequence, **kwargs):
        super().__init__(max_trials=len(sequence), **kwargs)
        self.sequence = list(sequence)

    def populate_space(self, trial_id):
        index = len(self.trials)
        if index >= len(self.sequence):
            return {"status": "STOPPED", "values": None}
        values = self.get_space().get_config()  # noqa: F841 (space must exist)
        return {"status": "RUNNING", "values": dict(self.sequence[index])}


def build_model(hp):
    """A build function written for keras_tuner.RandomSearch, unchanged."""
    model = keras.Sequential([keras.Input(shape=(64,))])
    for i in range(hp.Int("num_layers", 1, 2)):
        model.add(keras.layers.Dense(hp.Choice("units", [8, 16, 32]), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model
