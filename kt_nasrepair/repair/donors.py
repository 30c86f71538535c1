"""Donor choice and the warm start itself: which finished trial a new trial grows from.

Takes the oracle's trials and a callable that rebuilds a donor, never a `Tuner`.
"""

from __future__ import annotations

import math
import zlib

import keras
import keras_tuner
import numpy as np

from kt_nasrepair import morph
from kt_nasrepair.repair.fit_checks import shapes_compatible, single_input_shape

# NOTE: the largest output change a warm start may cause (Net2Net rounding is ~1e-6).
MAX_DEVIATION = getattr(morph, "DEFAULT_MAX_DEVIATION", 1e-3)

# How many rows of `x` the transfer's deviation (and NeuralRepair's dormancy) is measured on.
PROBE_ROWS = 256

# NOTE: checking a donor costs a model build (ms for an MLP); 25 bounds a trial's overhead.
MAX_DONOR_CANDIDATES = 25

# NOTE: a child widened from a 1-unit layer trails a cold trial (docs/performance.md).
MAX_BOTTLENECK_RATIO = 4.0


def _why(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def donor_candidates(oracle, trial_id, donor_pool: float) -> list:
    """The finite-scored completed trials that may be donors for `trial_id`, best first.

    Args:
        oracle: The search's `keras_tuner.Oracle`.
        trial_id: The trial being started (never its own donor).
        donor_pool: The share of the best `MAX_DONOR_CANDIDATES` that may be donors (>= 1 may).
    """
    completed = [
        t for t in oracle.get_best_trials(MAX_DONOR_CANDIDATES)
        if t.trial_id != trial_id
        and t.status == keras_tuner.engine.trial.TrialStatus.COMPLETED
        and t.score is not None and math.isfinite(t.score)
    ]
    # NOTE: a poor donor passes its bottleneck on to every descendant (docs/warm_start.md).
    return completed[: max(1, math.ceil(len(completed) * donor_pool))]


def transfer_seed(seed, trial_id, execution: int = 0) -> int:
    """The morphing-noise seed of one execution of one trial, derived from the tuner's seed."""
    return zlib.crc32(f"{seed}:{trial_id}:{execution}".encode()) & 0x7FFFFFFF


def _checked_donor(donor_trial, model, load_donor):
    """`(donor with its checkpoint, None)`, or `(None, why it may not warm-start model)`."""
    try:
        donor = load_donor(donor_trial, weights=False)
    except Exception as error:  # a user's build_model may fail on old values
        return None, f"rebuild failed ({_why(error)})"
    try:
        reachable, why = morph.can_transfer(donor, model)
    except Exception as error:  # a model morph does not understand: never fail the trial
        reachable, why = False, f"not analysable ({_why(error)})"
    why = bottleneck(donor, model) if reachable else why
    if not reachable or why is not None:
        return None, why
    try:
        return load_donor(donor_trial, weights=True), None
    except Exception as error:
        return None, f"checkpoint missing or unreadable ({_why(error)})"


def warm_start(model, candidates, *, load_donor, noise_std, seed, probe=None,
               max_deviation=None) -> dict:
    """Writes the first reachable candidate's function into `model`; never raises.

    A candidate that cannot be rebuilt or reached, or whose transfer fails or deviates by more
    than `max_deviation`, is skipped with its reason.

    Args:
        model: The freshly built target model (modified in place on success).
        candidates: Donor trials, best first (see `donor_candidates`).
        load_donor: `load_donor(trial, weights=bool)`: the donor's model (with its checkpoint).
        noise_std: Net2Net symmetry-breaking noise.
        seed: Seed of the morphing noise.
        probe: Optional input batch on which the transfer's deviation is measured.
        max_deviation: The largest deviation accepted; defaults to `MAX_DEVIATION`.

    Returns:
        The lineage fields `donor`, `ops`, `transfer_seconds`, `max_deviation`, `reason` (why
        it started cold) and `refused` (each skipped donor).
    """
    tolerance = MAX_DEVIATION if max_deviation is None else float(max_deviation)
    refusals, initial = [], None
    for donor_trial in candidates:
        donor, why = _checked_donor(donor_trial, model, load_donor)
        if donor is not None:
            initial = initial or [w.copy() for w in model.get_weights()]
            try:
                report = morph.transfer(donor, model, noise_std=noise_std, seed=seed,
                                        probe=probe)
            except Exception as error:
                why = f"transfer failed ({_why(error)})"
            else:
                deviation = _worst_deviation(report)
                if deviation is None or deviation <= tolerance:  # NaN is refused
                    return {"donor": donor_trial.trial_id, "ops": list(report.ops),
                            "transfer_seconds": report.seconds,
                            "max_deviation": report.max_deviation, "reason": None,
                            "refused": refusals}
                why = (f"transfer changed the function by {deviation:.3g} on the probe "
                       f"batch (tolerance {tolerance:g})")
            model.set_weights(initial)
        refusals.append(f"trial {donor_trial.trial_id}: {why}")
    return {"donor": None, "ops": [], "transfer_seconds": None, "max_deviation": None,
            "reason": "; ".join(refusals), "refused": refusals}


def refusal_label(model) -> str:
    """A few words on why `morph` cannot read `model` (for the progress line)."""
    if not model.built:
        return "model not built"
    if not isinstance(model, keras.Sequential) and not hasattr(model, "inputs"):
        return "subclassed model"
    return "not a Dense chain"


def bottleneck(donor, target, max_ratio: float = MAX_BOTTLENECK_RATIO) -> str | None:
    """Why `donor` would hand its bottleneck on to `target`, or None when it would not.

    Args:
        donor: The donor's model (weights not needed).
        target: The target model.
        max_ratio: The largest accepted ratio of target's to donor's narrowest hidden layer.
    """
    try:
        donor_widths, target_widths = morph.hidden_widths(donor), morph.hidden_widths(target)
    except Exception:  # a model morph cannot read: reachability has already said so
        return None
    if not donor_widths or not target_widths:
        return None
    narrowest, wanted = min(donor_widths), min(target_widths)
    if wanted <= max_ratio * narrowest:
        return None
    return (f"bottleneck: its narrowest hidden layer has {narrowest} unit(s), under "
            f"1/{max_ratio:g} of the target's narrowest ({wanted}); a child widened that far "
            "trails a cold start")


def _worst_deviation(report):
    """The larger of the report's inference- and training-mode deviations (None if unmeasured)."""
    values = [float(v) for v in (getattr(report, f"max_deviation{mode}", None)
                                 for mode in ("", "_training")) if v is not None]
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values, default=None)


def probe_batch(args, kwargs, model):
    """The first rows of array `x`, reshaped as Keras would for the model's input, or None."""
    x = args[0] if args else kwargs.get("x")
    if not (isinstance(x, np.ndarray) and x.ndim >= 2 and len(x)):
        return None
    probe, expected = x[:PROBE_ROWS], single_input_shape(model)
    if expected is None or any(d is None for d in expected[1:]) \
            or probe.shape[1:] == tuple(expected[1:]):
        return probe
    want = tuple(expected[1:])
    if shapes_compatible(expected, probe.shape) and math.prod(want) == math.prod(probe.shape[1:]):
        return probe.reshape((len(probe), *want))
    return None
