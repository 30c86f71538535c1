"""Growth during a trial: widen the live model, and its best checkpoint with it."""

from __future__ import annotations

import os
import time

import keras

from kt_nasrepair import morph
from kt_nasrepair._io import atomic_write_json
from kt_nasrepair.repair.checkpoints import load_weights


def widen_all(model, growth_factor: float, noise_std: float, seed=None):
    """Widens every hidden Dense layer of `model` by `growth_factor` (Net2WiderNet).

    Returns:
        `(grown_model, ops)`; at least one unit is added to each layer.
    """
    grown, ops = model, []
    for index, layer in enumerate(morph.describe(model)):
        units = max(layer["units"] + 1, int(round(layer["units"] * growth_factor)))
        layer_seed = None if seed is None else seed + index
        grown = morph.widen(grown, layer["name"], units, noise_std=noise_std, seed=layer_seed)
        ops.append(f"widen {layer['name']} {layer['units']}->{units}")
    return grown, ops


def grow_trial_model(model, grown, checkpoint: str, architecture_fname: str) -> None:
    """Makes the trial's files follow a growth of its model.

    The checkpoint holds the best epoch so far, in the old architecture. It is grown too
    (exactly: noise 0) so that checkpoint and stored architecture always agree and the
    trial's best score stays the score of what `load_model` returns.

    Args:
        model: The model before growth (its architecture matches `checkpoint`).
        grown: The model after growth.
        checkpoint: The trial's best-epoch weights file (may not exist yet).
        architecture_fname: Where the grown architecture is stored.
    """
    if os.path.exists(checkpoint):
        best_before = keras.models.clone_model(model)
        load_weights(best_before, checkpoint)
        best_after = keras.models.clone_model(grown)
        morph.transfer(best_before, best_after, noise_std=0.0)
        tmp = checkpoint + ".tmp.weights.h5"
        best_after.save_weights(tmp)
        os.replace(tmp, checkpoint)
    atomic_write_json(
        architecture_fname,
        {"model": grown.to_json(), "compile": grown.get_compile_config()},
    )


def growth_entry(epoch: int, ops, before, grown, started: float) -> dict:
    """The lineage entry of one growth."""
    return {
        "epoch": epoch,
        "ops": list(ops),
        "widths_before": before,
        "widths_after": morph.hidden_widths(grown),
        "seconds": time.perf_counter() - started,
    }
