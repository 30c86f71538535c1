"""Where a dense configuration can grow to: the growable dimensions of a search space.

`GrowthSpace` reads from a KerasTuner space which hyperparameters are the depth, the
widths and the activation of a dense chain (DenseHyperModel's names by default), and
lists the configurations one or two Net2Net steps away from a given one: a width one
grid step up, or one more layer as wide as the last. The arithmetic of the search
(expected improvement, the cost model) lives in `_grow_acquisition.py`.
"""

from __future__ import annotations

from keras_tuner.engine import hyperparameters as hp_module

from kt_nasrepair.oracles import _reachability
from kt_nasrepair.oracles._encoding import _grid


def numeric_grid(hp) -> list | None:
    """The sorted values of a discrete numeric hyperparameter, or None."""
    if isinstance(hp, hp_module.Int):
        return sorted(_grid(hp))
    if isinstance(hp, hp_module.Choice) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in hp.values
    ):
        return sorted(hp.values)
    if isinstance(hp, hp_module.Fixed):
        return [hp.value]
    return None


def next_above(grid: list, value, inclusive: bool = False):
    """The smallest grid value above `value` (or equal, when `inclusive`), or None."""
    for candidate in grid:
        if candidate > value or (inclusive and candidate == value):
            return candidate
    return None


class GrowthSpace:
    """The growable hyperparameters of a space and the moves between their values.

    Args:
        hyperparameters: the oracle's `keras_tuner.HyperParameters`.
        num_layers_name, units_name, activation_name: the names of the depth, width (a
            shared `units`, or the prefix of `units_0 .. units_{n-1}`) and hidden
            activation hyperparameters.
        activation: the hidden activation when it is not a hyperparameter.
    """

    def __init__(self, hyperparameters, *, num_layers_name, units_name, activation_name,
                 activation):
        by_name = {}
        for hp in hyperparameters.space:
            by_name.setdefault(hp.name, hp)
        self.names = dict(num_layers_name=num_layers_name, units_name=units_name,
                          activation_name=activation_name)
        self.activation = activation
        self.per_layer_units = f"{units_name}_0" in by_name
        if self.per_layer_units:
            self.width_hps, i = {}, 0
            while f"{units_name}_{i}" in by_name:
                self.width_hps[f"{units_name}_{i}"] = by_name[f"{units_name}_{i}"]
                i += 1
        elif units_name in by_name:
            self.width_hps = {units_name: by_name[units_name]}
        else:
            self.width_hps = {}
        self.width_grids = {name: numeric_grid(hp) for name, hp in self.width_hps.items()}
        depth_hp = by_name.get(num_layers_name)
        self.depth_grid = numeric_grid(depth_hp) if depth_hp is not None else None
        # NOTE: a width that is not a discrete number (a Float) cannot be stepped; such a
        # space has no growth moves, and the oracle only perturbs the other values.
        self.has_architecture = bool(self.width_hps) and all(
            grid is not None for grid in self.width_grids.values()
        )
        self.growable = set(self.width_hps) | (
            {num_layers_name} if depth_hp is not None else set()
        )
        # The activation is architecture too: changing it is never reachable.
        self.fixed = self.growable | {activation_name}

    # ------------------------------------------------------------ reading values
    def widths(self, values: dict) -> list[int] | None:
        """Hidden widths of `values`, or None when it sets no width."""
        if not self.has_architecture:
            return None
        return _reachability.hidden_widths(
            values,
            per_layer_units=self.per_layer_units,
            num_layers_name=self.names["num_layers_name"],
            units_name=self.names["units_name"],
        )

    def reachable(self, donor: dict, target: dict) -> bool:
        """`dense_reachable`, extended to values without a dense architecture.

        Two configurations that both set no width (a space without growable
        hyperparameters, or a conditional branch without them) count as the same
        architecture; one with and one without are never reachable.
        """
        donor_widths, target_widths = self.widths(donor), self.widths(target)
        if donor_widths is None or target_widths is None:
            return donor_widths is None and target_widths is None
        return _reachability.dense_reachable(
            donor, target, per_layer_units=self.per_layer_units,
            activation=self.activation, **self.names,
        )

    def parameter_count(self, values: dict, input_units: int | None) -> float:
        """Weights and biases of the hidden layers (the first layer's inputs if known)."""
        widths = self.widths(values) or []
        count, previous = 0.0, float(input_units or 0)
        for width in widths:
            count += (previous + 1.0) * width
            previous = float(width)
        return count

    # ------------------------------------------------------------------- moves
    def one_step(self, values: dict) -> list[dict]:
        """Configurations one step wider (one width) or one layer deeper.

        Each result is a dict of the changed names only, to be merged into `values`.
        """
        widths = self.widths(values)
        if widths is None:
            return []
        units = self.names["units_name"]
        moves = []
        if self.per_layer_units:
            for i, width in enumerate(widths):
                name = f"{units}_{i}"
                wider = next_above(self.width_grids[name], width)
                if wider is not None:
                    moves.append({name: wider})
        else:
            wider = next_above(self.width_grids[units], widths[0])
            if wider is not None:
                moves.append({units: wider})
        deeper = self._deeper(values, widths)
        if deeper is not None:
            moves.append(deeper)
        return moves

    def _deeper(self, values: dict, widths: list[int]) -> dict | None:
        depth_name = self.names["num_layers_name"]
        if self.depth_grid is None or depth_name not in values:
            return None
        depth = next_above(self.depth_grid, int(values[depth_name]))
        if depth is None:
            return None
        move = {depth_name: depth}
        if self.per_layer_units:
            # The new layers are as wide as the last one (the narrowest an identity layer
            # after it can be), or the next width up when the grid lacks that width.
            for k in range(len(widths), int(depth)):
                name = f"{self.names['units_name']}_{k}"
                if name not in self.width_grids:
                    return None
                width = next_above(self.width_grids[name], widths[-1], inclusive=True)
                if width is None:
                    return None
                move[name] = width
        return move

    def neighbours(self, values: dict, max_steps: int = 2) -> list[dict]:
        """Distinct architectures 1..`max_steps` growth steps away, as changed names."""
        frontier, seen, found = [{}], set(), []
        for _ in range(max_steps):
            next_frontier = []
            for changes in frontier:
                for move in self.one_step({**values, **changes}):
                    merged = {**changes, **move}
                    key = tuple(sorted((k, str(v)) for k, v in merged.items()))
                    if key not in seen:
                        seen.add(key)
                        found.append(merged)
                        next_frontier.append(merged)
            frontier = next_frontier
        return found
