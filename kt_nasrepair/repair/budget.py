"""Budgeted warm trials: a warm child trains `warm_epochs` first and goes on only if promising.

As in KerasTuner's Hyperband (`tuner/initial_epoch`) a continued run resumes the same
training. NASH (Elsken et al. 2017, arXiv 1711.04528) and Auto-Keras (Jin et al. 2019) also
train morphed children briefly: that, not the inherited weights alone, saves time.
"""

from __future__ import annotations

import math

from kt_nasrepair._validation import check, is_int


def check_warm_epochs(warm_epochs):
    """Validates `warm_epochs`: None (no budget), an integer >= 1, or `"auto"`."""
    check(
        warm_epochs is None or warm_epochs == "auto" or (is_int(warm_epochs) and warm_epochs >= 1),
        "warm_epochs", warm_epochs,
        "None (warm trials train all `epochs`), 'auto' (a third of `epochs`, rounded up) or "
        "an integer >= 1",
    )
    return warm_epochs


def resolve_warm_epochs(warm_epochs, epochs: int) -> int | None:
    """The short budget of a warm trial for a search of `epochs` epochs, or None when there
    is none or it would not be shorter than `epochs`."""
    if warm_epochs is None:
        return None
    budget = math.ceil(epochs / 3) if warm_epochs == "auto" else int(warm_epochs)
    return budget if budget < epochs else None


def best_value(objective, epoch_logs) -> float | None:
    """The best value of `objective` over a list of epoch logs (None when never reported).

    Non-finite values never count: an epoch whose loss went NaN is not a best epoch.
    """
    best = None
    for logs in epoch_logs:
        value = objective.get_value(logs) if objective.has_value(logs) else None
        if value is not None and math.isfinite(value) and (
                best is None or objective.better_than(value, best)):
            best = value
    return best


def should_promote(objective, value_at_budget, donor_score) -> bool:
    """Whether a warm child continues past its short budget.

    It does when its best value after `warm_epochs` already beats its donor's score (the
    growth paid for itself); otherwise training on would spend a full trial on a network its
    parent already beats, so it is scored on what it reached.

    Args:
        objective: The oracle's objective (`keras_tuner.Objective`).
        value_at_budget: The child's best objective value after `warm_epochs`, or None.
        donor_score: The donor trial's score, or None.
    """
    if value_at_budget is None:
        return False
    if donor_score is None or not math.isfinite(donor_score):
        return True
    return bool(objective.better_than(value_at_budget, donor_score))
