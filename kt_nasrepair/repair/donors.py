"""Donor choice and the warm start itself: which finished trial a new trial grows from.

The functions here know nothing of KerasTuner's `Tuner`: they take the oracle's trials and
callables that rebuild a donor, so they can be tested without a search.
"""

from __future__ import annotations

import math
import zlib

import keras
import keras_tuner
import numpy as np

from kt_nasrepair import morph
from kt_nasrepair.repair.fit_checks import shapes_compatible, single_input_shape

# NOTE: the largest output change a warm start may cause, measured on the probe batch. Net2Net
# is function-preserving up to float32 rounding (~1e-6 on softmax outputs); a deviation above
# this means the transfer did not do what it claims (an activation it cannot widen exactly,
# say) and the target starts cold instead. `morph.DEFAULT_MAX_DEVIATION` when morph has one.
MAX_DEVIATION = getattr(morph, "DEFAULT_MAX_DEVIATION", 1e-3)

# How many rows of `x` the transfer's deviation (and NeuralRepair's dormancy) is measured on.
PROBE_ROWS = 256

# NOTE: how many of the best completed trials are considered as donors. Checking one costs a
# model build (milliseconds for an MLP); 25 keeps a long search's per-trial overhead bounded.
MAX_DONOR_CANDIDATES = 25

# NOTE: a donor whose narrowest hidden layer is under 1/MAX_BOTTLENECK_RATIO of the target's
# narrowest is refused. Net2WiderNet widens a layer by copying its units, so a child grown
# from a 1-unit layer starts with ten copies of one unit that stay near-identical, and trails
# a cold trial of its size; measured in the seed space (benchmarks/donor_choice.py,
# docs/performance.md "Donor choice").
MAX_BOTTLENECK_RATIO = 4.0


def donor_candidates(oracle, trial_id, donor_pool: float) -> list:
    """The completed trials that may be donors for `trial_id`, best first.

    Args:
        oracle: The search's `keras_tuner.Oracle`.
        trial_id: The trial being started (never its own donor).
        donor_pool: The share of the best `MAX_DONOR_CANDIDATES` completed trials that may be
            donors (at least one always may).

    Returns:
        A list of `keras_tuner` trials with a finite score, best first.
    """
    best = oracle.get_best_trials(MAX_DONOR_CANDIDATES)
    completed = [
        t
        for t in best
        if t.trial_id != trial_id
        and t.status == keras_tuner.engine.trial.TrialStatus.COMPLETED
        and t.score is not None
        and math.isfinite(t.score)
    ]
    # NOTE: by default only the better half is eligible. A poor donor (a 1-unit
    # bottleneck, say) passes its bottleneck on to every descendant: widened copies of one
    # unit stay near-identical, so its children trail a cold start (docs/warm_start.md).
    return completed[: max(1, math.ceil(len(completed) * donor_pool))]


def transfer_seed(seed, trial_id, execution: int = 0) -> int:
    """The morphing-noise seed of one execution of one trial, derived from the tuner's seed."""
    return zlib.crc32(f"{seed}:{trial_id}:{execution}".encode()) & 0x7FFFFFFF


def warm_start(model, candidates, *, load_donor, noise_std, seed, probe=None,
               max_deviation=None) -> dict:
    """Writes the first reachable candidate's function into `model`.

    Every candidate is tried in turn; a donor that cannot be rebuilt, is not reachable, has
    no readable checkpoint, whose transfer raises, or whose transfer changes the function by
    more than `max_deviation` on the probe batch is skipped with its reason, and `model`'s
    own initial weights are restored before the next candidate. Nothing here raises: at
    worst the model trains cold and the reasons say why.

    Args:
        model: The freshly built target model (modified in place on success).
        candidates: Donor trials, best first (see `donor_candidates`).
        load_donor: `load_donor(trial, weights=True)` returns the donor's model, with its
            best checkpoint loaded when `weights` is true.
        noise_std: Net2Net symmetry-breaking noise.
        seed: Seed of the morphing noise.
        probe: Optional input batch on which the transfer's deviation is measured.
        max_deviation: The largest deviation accepted (inference and, when `morph` reports
            it, training mode); defaults to `MAX_DEVIATION`.

    Returns:
        The lineage fields: `donor` (trial id or None), `ops`, `transfer_seconds`,
        `max_deviation`, `reason` (why it started cold, or None) and `refused` (each
        candidate skipped before the donor, with why).
    """
    tolerance = MAX_DEVIATION if max_deviation is None else float(max_deviation)
    refusals = []
    initial = None
    for donor_trial in candidates:
        tag = f"trial {donor_trial.trial_id}"
        try:
            donor = load_donor(donor_trial, weights=False)
        except Exception as error:  # a user's build_model may fail on old values
            refusals.append(f"{tag}: rebuild failed ({type(error).__name__}: {error})")
            continue
        try:
            reachable, why = morph.can_transfer(donor, model)
        except Exception as error:  # a model morph does not understand: never fail the trial
            reachable, why = False, f"not analysable ({type(error).__name__}: {error})"
        if not reachable:
            refusals.append(f"{tag}: {why}")
            continue
        narrow = bottleneck(donor, model)
        if narrow is not None:
            refusals.append(f"{tag}: {narrow}")
            continue
        try:
            donor = load_donor(donor_trial, weights=True)
        except Exception as error:
            refusals.append(
                f"{tag}: checkpoint missing or unreadable ({type(error).__name__}: {error})"
            )
            continue
        if initial is None:
            initial = [w.copy() for w in model.get_weights()]
        try:
            report = morph.transfer(donor, model, noise_std=noise_std, seed=seed, probe=probe)
        except Exception as error:
            model.set_weights(initial)
            refusals.append(f"{tag}: transfer failed ({type(error).__name__}: {error})")
            continue
        deviation = _worst_deviation(report)
        if deviation is not None and not deviation <= tolerance:  # NaN is refused too
            model.set_weights(initial)
            refusals.append(
                f"{tag}: transfer changed the function by {deviation:.3g} on the probe batch "
                f"(tolerance {tolerance:g})"
            )
            continue
        return {
            "donor": donor_trial.trial_id,
            "ops": list(report.ops),
            "transfer_seconds": report.seconds,
            "max_deviation": report.max_deviation,
            "reason": None,
            "refused": refusals,
        }
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
        max_ratio: The largest accepted ratio of the target's narrowest hidden layer to the
            donor's.

    Returns:
        A reason naming both widths when the ratio exceeds `max_ratio`, else None (also when
        either model has no hidden Dense layer `morph` can read).
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
    values = [getattr(report, name, None) for name in ("max_deviation", "max_deviation_training")]
    values = [float(v) for v in values if v is not None]
    if any(math.isnan(v) for v in values):
        return math.nan
    return max(values) if values else None


def probe_batch(args, kwargs, model):
    """The first rows of array `x`, shaped as the model's input (or None).

    Keras feeds `(n, 64, 1)` data to a `(None, 64)` input by dropping the trailing axis;
    the probe, used by numpy code, gets the same reshape.
    """
    x = args[0] if args else kwargs.get("x")
    if not (isinstance(x, np.ndarray) and x.ndim >= 2 and len(x)):
        return None
    probe = x[:PROBE_ROWS]
    expected = single_input_shape(model)
    if expected is None or any(d is None for d in expected[1:]):
        return probe
    want = tuple(expected[1:])
    if probe.shape[1:] == want:
        return probe
    if shapes_compatible(expected, probe.shape) and math.prod(want) == math.prod(probe.shape[1:]):
        return probe.reshape((len(probe), *want))
    return None
