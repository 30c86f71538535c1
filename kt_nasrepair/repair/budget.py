"""Budgeted warm trials: a warm child trains `warm_epochs` first and goes on only if promising.

Morphed children train briefly as in NASH (Elsken et al. 2017, arXiv 1711.04528).
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
    """A warm trial's short budget for `epochs` epochs, or None (none, or not shorter)."""
    if warm_epochs is None:
        return None
    budget = math.ceil(epochs / 3) if warm_epochs == "auto" else int(warm_epochs)
    return budget if budget < epochs else None


def best_value(objective, epoch_logs) -> float | None:
    """The best finite value of `objective` over a list of epoch logs, or None."""
    best = None
    for logs in epoch_logs:
        value = objective.get_value(logs) if objective.has_value(logs) else None
        if value is not None and math.isfinite(value) and (
                best is None or objective.better_than(value, best)):
            best = value
    return best


def should_promote(objective, value_at_budget, donor_score) -> bool:
    """Whether a warm child trains on: its best value after `warm_epochs`, `value_at_budget`,
    beats its donor's `donor_score` (or the donor has no finite score)."""
    if value_at_budget is None:
        return False
    if donor_score is None or not math.isfinite(donor_score):
        return True
    return bool(objective.better_than(value_at_budget, donor_score))
