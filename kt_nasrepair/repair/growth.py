"""Growth during a trial: widen the live model; one that cannot grow trains on unchanged."""

from __future__ import annotations

import inspect
import time
import zlib

from kt_nasrepair import morph


def widen_all(model, growth_factor: float, noise_std: float, seed=None):
    """Widens every hidden Dense layer by `growth_factor`, at least one unit (Net2WiderNet).

    Layer `i` uses `seed + i`. Returns `(grown_model, ops)`; raises `morph.NotMorphableError`.
    """
    grown, ops = model, []
    for index, layer in enumerate(morph.describe(model)):
        units = max(layer["units"] + 1, int(round(layer["units"] * growth_factor)))
        grown = morph.widen(grown, layer["name"], units, noise_std=noise_std,
                            seed=None if seed is None else seed + index)
        ops.append(f"widen {layer['name']} {layer['units']}->{units}")
    return grown, ops


def growth_seed(seed, trial_id, execution: int, epoch: int) -> int:
    """The seed of one growth: the tuner's seed, distinct per trial, execution and epoch."""
    return zlib.crc32(f"{seed}:{trial_id}:{execution}:grow:{epoch}".encode()) & 0x3FFFFFFF


def call_grow(grow, model, seed):
    """Calls a tuner's `grow(model)` hook, with `seed=` when it accepts one."""
    try:
        parameters = inspect.signature(grow).parameters.values()
    except (TypeError, ValueError):
        parameters = ()
    if any(p.name == "seed" or p.kind is p.VAR_KEYWORD for p in parameters):
        return grow(model, seed=seed)
    return grow(model)


def growth_entry(epoch: int, ops, before, grown, started: float, seed=None) -> dict:
    """The lineage entry of one growth."""
    return {"epoch": epoch, "ops": list(ops), "widths_before": before,
            "widths_after": morph.hidden_widths(grown), "seconds": time.perf_counter() - started,
            "seed": seed}


def skipped_entry(epoch: int, error: BaseException) -> dict:
    """The lineage entry of a growth that could not be done (training went on unchanged)."""
    return {"epoch": epoch, "reason": f"{type(error).__name__}: {error}"}
