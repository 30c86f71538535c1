"""Net2Net reachability on hyperparameter values of a dense (MLP) search space.

`kt_nasrepair.morph.can_transfer` decides on built models whether a donor's function can be
written into a target. For the models `DenseHyperModel` builds (one Dense chain, one hidden
activation, the same input and output layers for every configuration) the same decision
depends only on the hidden widths and the activation, so an oracle can make it on
hyperparameter values without building anything. `dense_reachable` follows the rules of
`kt_nasrepair/morph/plan.py`:

- the hidden activations must be identical (a copied layer keeps its nonlinearity);
- the target has at least as many hidden layers;
- the donor's hidden layers map monotonically onto the target's, the first onto the first;
  a copied layer needs a target width >= the donor width;
- the target layers between donor layer `i`'s copy and the next copy (or the end) are
  inserted identity layers: width >= donor layer `i`'s, and an activation that is the
  identity on the donor activation's outputs (relu, relu6 or linear; not tanh).
"""

from __future__ import annotations

import keras

from kt_nasrepair.morph import keras_models as km

NUM_LAYERS = "num_layers"
UNITS = "units"
ACTIVATION = "activation"


def hidden_widths(
    values: dict,
    *,
    per_layer_units: bool,
    num_layers_name: str = NUM_LAYERS,
    units_name: str = UNITS,
) -> list[int] | None:
    """The hidden widths a configuration builds, or None when its width is not set.

    Args:
        values: hyperparameter values (active ones).
        per_layer_units: whether widths are `units_0 .. units_{n-1}` (True) or one shared
            `units` (False).
        num_layers_name: name of the depth hyperparameter. When it is absent, the depth is
            the number of consecutive `units_i` present (per-layer) or 1 (shared).
        units_name: name (or prefix, per-layer) of the width hyperparameters.

    Returns:
        A list of ints, or None when a needed width is missing from `values`.
    """
    depth = values.get(num_layers_name)
    if per_layer_units:
        if depth is None:
            depth = 0
            while f"{units_name}_{depth}" in values:
                depth += 1
            if depth == 0:
                return None
        names = [f"{units_name}_{i}" for i in range(int(depth))]
        if any(values.get(name) is None for name in names):
            return None
        return [int(values[name]) for name in names]
    if values.get(units_name) is None:
        return None
    return [int(values[units_name])] * int(1 if depth is None else depth)


def is_activation_name(name) -> bool:
    """Whether `name` is a string Keras resolves to an activation."""
    if not isinstance(name, str):
        return False
    try:
        return keras.activations.get(name) is not None
    except (ValueError, TypeError):
        return False


def activation_key(name) -> str:
    """The canonical name `morph` compares (aliases resolve to one function)."""
    if name is None:
        return "linear"
    return km.activation_name(keras.activations.get(name))


def can_insert_after(activation: str) -> bool:
    """Whether an identity layer with `activation` can follow a layer with it."""
    key = activation_key(activation)
    return km.is_identity_on(key, km.activation_range(key))


def widths_reachable(donor: list, target: list, insertable: bool) -> bool:
    """Whether hidden widths `target` can be grown from `donor` (same activation).

    A dynamic programme over (donor layer i, target layer j): `reach[j]` after row `i`
    says donor layers 0..i cover target layers 0..j with target layer j owned by donor
    layer i (its copy or an identity layer after it). Equivalent to the exhaustive search
    of `plan._align`, in O(len(donor) * len(target)).

    Args:
        donor: donor hidden widths. target: target hidden widths.
        insertable: whether identity layers may be inserted (see `can_insert_after`).

    Returns:
        bool.
    """
    m, n = len(donor), len(target)
    if m == 0 or n == 0:
        return m == n
    if n < m or (n > m and not insertable):
        return False
    if not insertable:
        return all(t >= d for d, t in zip(donor, target))
    previous = None
    for i, width in enumerate(donor):
        current = [False] * n
        for j in range(i, n - (m - 1 - i)):
            if target[j] < width:
                continue
            copied_here = (j == 0) if i == 0 else previous[j - 1]
            follows_own_copy = j > 0 and current[j - 1]
            current[j] = copied_here or follows_own_copy
        previous = current
    return previous[n - 1]


def dense_reachable(
    donor_values: dict,
    target_values: dict,
    *,
    per_layer_units: bool = True,
    activation: str = "relu",
    num_layers_name: str = NUM_LAYERS,
    units_name: str = UNITS,
    activation_name: str = ACTIVATION,
) -> bool:
    """Whether `morph.can_transfer` would accept the pair of models these values build.

    The models are assumed to come from one `DenseHyperModel` (or a `build_model` with the
    same structure): the same input, a chain of Dense layers `units_i` (or `units`) wide
    with one hidden activation, optional Dropout, the same output layer. Other
    hyperparameters (learning rate, dropout rate) do not change the architecture.

    Args:
        donor_values: hyperparameter values of the trained model.
        target_values: hyperparameter values of the model to warm-start.
        per_layer_units: `DenseHyperModel`'s argument of the same name.
        activation: the hidden activation when `activation_name` is not a hyperparameter
            (in neither dict). Defaults to "relu" (`DenseHyperModel`'s default).
        num_layers_name, units_name, activation_name: hyperparameter names; default to
            `DenseHyperModel`'s.

    Returns:
        bool.

    Raises:
        ValueError: when either dict lacks the width hyperparameters.

    Example:

    ```python
    dense_reachable({"num_layers": 1, "units_0": 32}, {"num_layers": 2, "units_0": 64,
                    "units_1": 32})  # True: widen, then an identity relu layer
    ```
    """
    widths = []
    for role, values in (("donor_values", donor_values), ("target_values", target_values)):
        found = hidden_widths(
            values,
            per_layer_units=per_layer_units,
            num_layers_name=num_layers_name,
            units_name=units_name,
        )
        if found is None:
            prefix = f"{units_name}_i" if per_layer_units else units_name
            raise ValueError(
                f"`{role}` must hold the width hyperparameters ({prefix!r}, "
                f"{num_layers_name!r}). Received: {role}={values!r}"
            )
        widths.append(found)
    donor_act = activation_key(donor_values.get(activation_name, activation))
    target_act = activation_key(target_values.get(activation_name, activation))
    if donor_act != target_act:
        return False
    return widths_reachable(widths[0], widths[1], can_insert_after(donor_act))
