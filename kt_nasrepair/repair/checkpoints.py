"""Reading a trial's weights and stored (grown) architecture."""

from __future__ import annotations

import os
import warnings

import keras

from kt_nasrepair._io import read_json

ARCHITECTURE_FILENAME = "architecture.json"


def load_weights(model, path) -> None:
    """Loads a KerasTuner checkpoint's weights into `model`.

    Checkpoints also hold the trial's optimizer slots; a fresh model has none yet and Keras
    warns about skipping them. Only the weights are wanted (see docs/warm_start.md).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)


def architecture_fname(trial_dir: str) -> str:
    """Where a trial whose model grew during training stores its final architecture."""
    return os.path.join(trial_dir, ARCHITECTURE_FILENAME)


def stored_architecture(trial_dir: str):
    """The grown model stored in `trial_dir` (compiled as it trained), or None."""
    stored = read_json(architecture_fname(trial_dir))
    if stored is None:
        return None
    model = keras.models.model_from_json(stored["model"])
    if stored.get("compile"):
        model.compile_from_config(stored["compile"])
    return model
