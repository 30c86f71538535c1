"""A trial's best-epoch checkpoint: what architecture it holds, and how it is read back.

A grown model's architecture is stored beside its weights at every save (`architecture.json`).
"""

from __future__ import annotations

import os
import warnings

import keras

from kt_nasrepair._io import atomic_write_json, read_json
from kt_nasrepair.repair.training import finite_epoch
from kt_nasrepair.shape_stable import compact_of

ARCHITECTURE_FILENAME = "architecture.json"


def load_weights(model, path) -> None:
    """Loads a KerasTuner checkpoint's weights into `model` (not its optimizer slots)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)


def build_if_needed(model, build_config) -> None:
    """Builds a lazily built model from its saved build config, as KerasTuner's `load_model`."""
    if not model.built and build_config:
        model.build_from_config(build_config)


def architecture_fname(trial_dir: str) -> str:
    """Where a trial stores the architecture of its checkpoint when its model grew."""
    return os.path.join(trial_dir, ARCHITECTURE_FILENAME)


def stored_architecture(trial_dir: str):
    """The grown model stored in `trial_dir` (compiled as it trained), or None."""
    stored = read_json(architecture_fname(trial_dir))
    return None if stored is None else _deserialize(stored)


def _serialize(model) -> dict:
    return {"model": model.to_json(), "compile": model.get_compile_config()}


def _deserialize(stored: dict):
    model = keras.models.model_from_json(stored["model"])
    if stored.get("compile"):
        model.compile_from_config(stored["compile"])
    return model


def check_storable(model) -> None:
    """Raises a `TypeError` when `model`'s architecture cannot be stored and rebuilt."""
    try:
        _deserialize(_serialize(model))
    except Exception as error:
        raise TypeError(
            "the grown model could not be stored and rebuilt from its config, so "
            "`load_model` could not read it back (register custom objects with "
            f"`keras.saving.register_keras_serializable`): {type(error).__name__}: {error}"
        ) from error


def store_architecture(trial_dir: str, model) -> None:
    """Records the architecture of the weights just saved (None: the hyperparameters' own)."""
    path = architecture_fname(trial_dir)
    if model is not None:
        atomic_write_json(path, _serialize(model))
    elif os.path.exists(path):
        os.remove(path)


class BestEpochGuard(keras.callbacks.Callback):
    """Wraps KerasTuner's `SaveBestEpoch` `inner`: forwards only finite epochs (a checkpoint
    stays a valid donor), holds the best epoch's weights in memory and writes them once, when
    the fit ends, then calls `on_save(model, epoch)`.

    A trial's checkpoint is read only once the trial has completed (as a donor, by
    `load_model`), so a fit that never ends loses nothing a completed trial needs.
    """

    def __init__(self, inner, on_save):
        super().__init__()
        self.inner = inner
        self.on_save = on_save
        self._epoch, self._held = None, None  # held: (compact model, weights, epoch)
        # NOTE: one write a fit, not one an improving epoch: on JAX the writes were 11% of
        # a population search (docs/performance.md, "One checkpoint write a fit").
        inner._save_model = self._hold

    def set_model(self, model):
        super().set_model(model)
        self.inner.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.inner.set_params(params)

    def on_epoch_end(self, epoch, logs=None):
        if finite_epoch(logs or {}, self.inner.objective):
            self._epoch = epoch
            self.inner.on_epoch_end(epoch, logs)

    def _hold(self):
        model = compact_of(self.model)  # a padded network's trained slices, synced
        self._held = (model, model.get_weights(), self._epoch)

    def on_train_end(self, logs=None):
        # KerasTuner's own save (its distributed handling included) of the held weights; the
        # model keeps its current ones.
        if self._held is None:
            return
        model, weights, epoch = self._held
        self._held = None
        current, trained = model.get_weights(), self.inner.model
        model.set_weights(weights)
        self.inner.set_model(model)
        try:
            type(self.inner)._save_model(self.inner)
        finally:
            self.inner.set_model(trained)
            model.set_weights(current)
        self.on_save(model, epoch)


def is_best_epoch_callback(callback, checkpoint_fname: str) -> bool:
    """Whether `callback` is the trial's best-epoch checkpoint callback (KerasTuner's)."""
    return (
        getattr(callback, "filepath", None) == checkpoint_fname
        and hasattr(callback, "best_value")
        and hasattr(callback, "objective")
    )
