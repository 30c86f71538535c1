"""The dense naming contract: hyperparameter names, the widths they describe, their text.

Part of the public API: the reports and saved searches read these names (docs/search_space.md).
"""

from __future__ import annotations

from kt_nasrepair._validation import is_int

NUM_LAYERS = "num_layers"
UNITS = "units"
ACTIVATION = "activation"
DROPOUT = "dropout"
LEARNING_RATE = "learning_rate"
# NOTE: a longer text is cut, so a space of many hyperparameters stays one short cell.
_MAX_TEXT_CHARS = 60


def units_name(index: int) -> str:
    """Name of the width hyperparameter of hidden layer `index` when `per_layer_units=True`."""
    return f"{UNITS}_{index}"


def widths(values: dict) -> list[int] | None:
    """The hidden widths that a trial's `{name: value}` describes, or None for another space."""
    depth = values.get(NUM_LAYERS)
    if not is_int(depth) or depth < 1:
        return None
    per_layer = [values.get(units_name(i)) for i in range(depth)]
    if all(is_int(width) for width in per_layer):
        return [int(width) for width in per_layer]
    return [int(values[UNITS])] * depth if is_int(values.get(UNITS)) else None


def describe_architecture(values: dict) -> str:
    """A short text for a trial's architecture, from its active hyperparameter values.

    Args:
        values: `{name: value}` of the trial's active hyperparameters.

    Returns:
        `"3 x 64 relu"` or `"64-32-16"` for the dense names; for another space its
        `name=value` pairs, e.g. `"lr=0.01, optimizer=adam"`, cut to 60 characters; `"-"` for
        none.
    """
    values = {k: v for k, v in values.items() if not str(k).startswith("tuner/")}
    hidden = widths(values)
    if hidden is not None:
        text = f"{len(hidden)} x {hidden[0]}" if len(set(hidden)) == 1 else "-".join(
            map(str, hidden))
        activation = values.get(ACTIVATION)
        return f"{text} {activation}" if isinstance(activation, str) else text
    text = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in sorted(values.items()))
    if len(text) > _MAX_TEXT_CHARS:
        text = text[: _MAX_TEXT_CHARS - 3] + "..."
    return text or "-"
