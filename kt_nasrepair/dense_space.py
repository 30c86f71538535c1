"""The dense naming contract: hyperparameter names, hidden widths from values, their text.

`DenseHyperModel` declares these names; the progress line, the tables, the plots and saved
searches read them back, so they are part of the public API.
"""

from __future__ import annotations

from kt_nasrepair._validation import is_int

NUM_LAYERS = "num_layers"
UNITS = "units"
ACTIVATION = "activation"
DROPOUT = "dropout"
LEARNING_RATE = "learning_rate"
# NOTE: a text longer than this is cut; a space of many hyperparameters stays one short cell.
_MAX_TEXT_CHARS = 60


def units_name(index: int) -> str:
    """Name of the width hyperparameter of hidden layer `index` when `per_layer_units=True`."""
    return f"{UNITS}_{index}"


def widths(values: dict) -> list[int] | None:
    """The hidden widths that `{name: value}` describes (pure).

    Args:
        values: A trial's hyperparameter values.

    Returns:
        `[units_0, ..., units_{n-1}]` or `[units] * n` for `num_layers = n`, or None when the
        values do not name a dense architecture.
    """
    depth = values.get(NUM_LAYERS)
    if not is_int(depth) or depth < 1:
        return None
    per_layer = [values.get(units_name(i)) for i in range(depth)]
    if all(is_int(width) for width in per_layer):
        return [int(width) for width in per_layer]
    if is_int(values.get(UNITS)):
        return [int(values[UNITS])] * depth
    return None


def describe_architecture(values: dict) -> str:
    """A short text for a trial's architecture, from its active hyperparameter values (pure).

    Args:
        values: `{name: value}` of the trial's active hyperparameters.

    Returns:
        `"3 x 64 relu"` or `"64-32-16"` for the dense names; for any other space its
        `name=value` pairs cut to 60 characters, e.g. `"lr=0.01, optimizer=adam"`; `"-"` for
        none.
    """
    values = {k: v for k, v in values.items() if not str(k).startswith("tuner/")}
    hidden = widths(values)
    if hidden is not None:
        text = "-".join(map(str, hidden))
        if len(set(hidden)) == 1:
            text = f"{len(hidden)} x {hidden[0]}"
        activation = values.get(ACTIVATION)
        return f"{text} {activation}" if isinstance(activation, str) else text
    text = ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(values.items())
    )
    if len(text) > _MAX_TEXT_CHARS:
        text = text[: _MAX_TEXT_CHARS - 3] + "..."
    return text or "-"
