"""Donor -> target: finding the widen/deepen steps and writing the weights.

`transfer` never builds intermediate Keras models: it composes the Net2Net steps on numpy
arrays (`net2net`) and writes each target layer once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time

import keras
import numpy as np

from kt_nasrepair.morph import keras_models as km
from kt_nasrepair.morph import net2net
from kt_nasrepair.morph.keras_models import NotMorphableError
from kt_nasrepair.morph.morphisms import check_noise_std
from kt_nasrepair.morph.net2net import DEFAULT_NOISE_STD

_PROBE_SIZE = 32


@functools.lru_cache(maxsize=1)
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController  # a scikit-learn dependency
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


def _single_threaded_blas():
    """Limits numpy's BLAS to one thread for the small products of a transfer.

    NOTE: on a loaded 2-core machine, OpenBLAS threads spinning after each small product
    starve the backend's own threads: transfer of 784-512x2-10 -> 784-1024x4-10 took a
    median 163 ms with default threads and 47 ms with one (benchmarks/morph.py).
    """
    controller = _blas_controller()
    if controller is None:  # pragma: no cover
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@dataclasses.dataclass
class MorphReport:
    """What `transfer` did.

    Attributes:
        ops: Human-readable steps, e.g. `"widen dense_0 5->8"`, `"deepen after dense_1"`.
        seconds: Wall-clock time of the transfer, probe included.
        max_deviation: Largest `|target(x) - donor(x)|` over the probe batch (inference mode).
        alignment: For each hidden Dense layer of the target, the donor layer it copies, or
            `None` for an inserted identity layer.
    """

    ops: list
    seconds: float
    max_deviation: float
    alignment: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of the report."""
        return {
            "ops": [str(op) for op in self.ops],
            "seconds": float(self.seconds),
            "max_deviation": float(self.max_deviation),
            "alignment": {str(k): (None if v is None else str(v))
                          for k, v in self.alignment.items()},
        }


@dataclasses.dataclass
class _BlockShape:
    """Structure of one block as transfer sees it: Dense, then nonlinearities."""

    name: str
    units: int
    nonlinear: tuple  # activation names in order, linear ones dropped
    out_range: tuple  # range of the last nonlinearity (before any trailing affine)


def _block_shape(block, *, donor: bool, last: bool) -> _BlockShape:
    nonlinear, value_range, trailing_affine = [], km.REAL_LINE, False
    for layer in [block.dense] + block.post:
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            trailing_affine = trailing_affine or bool(nonlinear)
            continue
        if kind == "Dropout":
            continue
        name = km.activation_name(layer.activation)
        if name == "linear":
            continue
        if donor and trailing_affine:
            raise NotMorphableError(
                f"Donor layer {layer.name!r} applies an activation after a "
                "BatchNormalization that follows another activation; transfer cannot "
                "move that normalisation."
            )
        nonlinear.append(name)
        value_range = km.activation_range(name, value_range)
    if donor and last and trailing_affine:
        raise NotMorphableError(
            f"Donor output layer {block.dense.name!r} is followed by a BatchNormalization "
            "after its activation; transfer cannot move that normalisation."
        )
    return _BlockShape(block.dense.name, block.units, tuple(nonlinear), value_range)


def _check_prefix(chain, role: str):
    for layer in chain.prefix:
        kind = type(layer).__name__
        bad = (kind == "Activation" and km.activation_name(layer.activation) != "linear") or (
            kind == "BatchNormalization" and role == "donor")
        if bad:
            raise NotMorphableError(
                f"{role.capitalize()} layer {layer.name!r} ({kind}) before the first Dense "
                "layer is not supported by transfer."
            )


def _features(chain) -> int:
    return int(chain.blocks[0].dense.kernel.shape[0])


def _align(donor: list, target: list):
    """Monotone alignment of donor hidden layers onto target hidden layers.

    Donor layer `i` goes to target layer `positions[i]` (same nonlinearities, width at
    least the donor's); target layers between donor `i`'s and the next one become identity
    layers, which needs width >= donor `i`'s and activations that are the identity on donor
    `i`'s outputs. The first donor layer maps to the first target layer (an identity layer
    cannot sit on the raw inputs). The earliest alignment wins, so identity layers go as late
    as possible.

    Returns:
        A tuple of target positions, or `None` when none exists.
    """
    d_count, t_count = len(donor), len(target)
    if d_count == 0:
        return () if t_count == 0 else None

    def insertable(i, j):
        return target[j].units >= donor[i].units and all(
            km.is_identity_on(f, donor[i].out_range) for f in target[j].nonlinear)

    @functools.lru_cache(maxsize=None)
    def solve(i, k):
        if target[k].nonlinear != donor[i].nonlinear or target[k].units < donor[i].units:
            return None
        if i == d_count - 1:
            ok = all(insertable(i, j) for j in range(k + 1, t_count))
            return (k,) if ok else None
        for k_next in range(k + 1, t_count - (d_count - 1 - i) + 1):
            if k_next > k + 1 and not insertable(i, k_next - 1):
                break
            rest = solve(i + 1, k_next)
            if rest is not None:
                return (k,) + rest
        return None

    return solve(0, 0)


def _describe_blocks(blocks) -> str:
    return "[" + ", ".join(
        f"{b.units} {'/'.join(b.nonlinear) or 'linear'}" for b in blocks) + "]"


def _analyse(donor_model, target_model):
    """Parses both models and finds the alignment; raises NotMorphableError with the reason."""
    donor_chain, target_chain = km.parse_model(donor_model), km.parse_model(target_model)
    _check_prefix(donor_chain, "donor")
    _check_prefix(target_chain, "target")
    if donor_chain.input_shape != target_chain.input_shape:
        raise NotMorphableError(
            f"Input shapes differ: donor {donor_chain.input_shape}, target "
            f"{target_chain.input_shape}."
        )
    if _features(donor_chain) != _features(target_chain):
        raise NotMorphableError(
            f"The first Dense layers see {_features(donor_chain)} (donor) and "
            f"{_features(target_chain)} (target) features."
        )
    count = len(donor_chain.blocks)
    donor = [_block_shape(b, donor=True, last=i == count - 1)
             for i, b in enumerate(donor_chain.blocks)]
    target = [_block_shape(b, donor=False, last=False) for b in target_chain.blocks]
    if donor[-1].units != target[-1].units:
        raise NotMorphableError(
            f"Output widths differ: donor {donor[-1].units}, target {target[-1].units}."
        )
    if donor[-1].nonlinear != target[-1].nonlinear:
        raise NotMorphableError(
            f"Output activations differ: donor {donor[-1].nonlinear or ('linear',)}, "
            f"target {target[-1].nonlinear or ('linear',)}."
        )
    if len(target) < len(donor):
        raise NotMorphableError(
            f"The target has fewer hidden Dense layers ({len(target) - 1}) than the donor "
            f"({len(donor) - 1}); Net2Net cannot remove layers."
        )
    positions = _align(donor[:-1], target[:-1])
    if positions is None:
        raise NotMorphableError(
            "No monotone alignment of the donor's hidden layers "
            f"{_describe_blocks(donor[:-1])} onto the target's "
            f"{_describe_blocks(target[:-1])}: every target layer needs at least the width "
            "of the donor layer it copies or follows, copies need the same activations, and "
            "inserted layers need an activation that is the identity on their inputs "
            "(relu after relu, or linear)."
        )
    return donor_chain, target_chain, positions


def can_transfer(donor: keras.Model, target: keras.Model) -> tuple[bool, str | None]:
    """Whether `transfer(donor, target)` is possible.

    Returns:
        `(True, None)`, or `(False, reason)`.

    Example:

    ```python
    ok, reason = can_transfer(parent_model, child_model)
    ```
    """
    try:
        _analyse(donor, target)
    except NotMorphableError as error:
        return False, str(error)
    return True, None


def _donor_arrays(chain):
    """Donor Dense layers with every BatchNormalization folded in (float64).

    A normalisation before a block's first nonlinearity folds into that block's Dense
    layer; one after it (a *trailing* affine) folds into the next Dense layer's inputs, so
    the hidden value passed on is the nonlinearity's output itself.
    """
    arrays, pending = [], None
    for block in chain.blocks:
        kernel, bias = km.dense_weights(block.dense)
        kernel, bias = kernel.astype(np.float64), bias.astype(np.float64)
        if pending is not None:
            kernel, bias = net2net.fold_input_affine(kernel, bias, *pending)
        seen_nonlinear, trailing = False, None
        for layer in [block.dense] + block.post:
            kind = type(layer).__name__
            if kind == "BatchNormalization":
                scale, shift = net2net.batchnorm_affine(
                    *km.batchnorm_weights(layer), layer.epsilon)
                if not seen_nonlinear:
                    kernel, bias = net2net.fold_output_affine(kernel, bias, scale, shift)
                elif trailing is None:
                    trailing = (scale, shift)
                else:
                    trailing = (trailing[0] * scale, trailing[1] * scale + shift)
            elif kind in ("Dense", "Activation"):
                seen_nonlinear |= km.activation_name(layer.activation) != "linear"
        arrays.append((kernel.astype(np.float32), bias.astype(np.float32)))
        pending = trailing
    return arrays


def _identity_batchnorm(layer):
    units = int(layer.moving_mean.shape[0])
    ones, zeros = np.ones(units, np.float32), np.zeros(units, np.float32)
    variance = net2net.identity_batchnorm_moving_variance(units, layer.epsilon)
    return km.batchnorm_weight_list(layer, ones, zeros, zeros, variance)


def _set_dense(layer, kernel, bias):
    if layer.use_bias:
        layer.set_weights([kernel, bias])
    elif np.any(bias):
        raise NotMorphableError(
            f"Target layer {layer.name!r} has no bias but the transferred function needs one."
        )
    else:
        layer.set_weights([kernel])


def transfer(
    donor: keras.Model,
    target: keras.Model,
    *,
    noise_std: float = DEFAULT_NOISE_STD,
    seed: int | None = None,
    probe=None,
) -> MorphReport:
    """Writes into `target` weights that make it compute what `donor` computes.

    The target's hidden layers are aligned monotonically onto the donor's (see
    `can_transfer`): each donor layer is widened to its target layer's width (Net2WiderNet),
    and target layers with no donor counterpart become identity layers (Net2DeeperNet),
    themselves widened as needed. Donor BatchNormalization layers are folded into the
    Dense kernels and target ones are set to the identity; Dropout is ignored (inference).
    Optimizer state is not touched: it belongs to the old parametrisation (docs/morph.md).

    Args:
        donor: A trained morphable model (not modified).
        target: An already built morphable model; its weights are overwritten.
        noise_std: Symmetry-breaking, zero-sum noise on the weights leaving copied units,
            relative to the standard deviation of the donor kernel (0 disables it; the
            function is preserved either way up to float32 rounding).
        seed: Seed of the random mappings and of the noise.
        probe: Inputs to measure `max_deviation` on; defaults to 32 standard-normal
            samples of the input shape.

    Returns:
        A `MorphReport`.

    Raises:
        NotMorphableError: when the target is not reachable from the donor, with the reason.

    Example:

    ```python
    report = transfer(parent, child, seed=0)
    report.ops  # ["widen dense_0 64->128", "widen dense_1 64->128", "deepen after dense_1", ...]
    ```
    """
    start = time.perf_counter()
    noise_std = check_noise_std(noise_std)
    with _single_threaded_blas():
        report = _transfer(donor, target, noise_std, seed, probe)
    report.seconds = time.perf_counter() - start
    return report


def _transfer(donor, target, noise_std, seed, probe) -> MorphReport:
    donor_chain, target_chain, positions = _analyse(donor, target)
    rng = np.random.default_rng(seed)
    arrays = _donor_arrays(donor_chain)
    donor_hidden, target_hidden = donor_chain.hidden, target_chain.hidden
    owner = {}  # target hidden index -> donor hidden index it copies or follows
    for i, k in enumerate(positions):
        end = positions[i + 1] if i + 1 < len(positions) else len(target_hidden)
        for j in range(k, end):
            owner[j] = i
    ops, alignment = [], {}
    in_mapping = net2net.identity_mapping(_features(target_chain))
    for j, block in enumerate(target_hidden):
        i = owner[j]
        width = donor_hidden[i].units
        copied = positions[i] == j
        if copied:
            kernel, bias = arrays[i]
            alignment[block.dense.name] = donor_hidden[i].dense.name
            name = donor_hidden[i].dense.name
        else:
            kernel, bias = net2net.identity_dense(width)
            alignment[block.dense.name] = None
            ops.append(f"deepen after {target_hidden[j - 1].dense.name}")
            name = block.dense.name
        if block.units > width:
            ops.append(f"widen {name} {width}->{block.units}")
        out_mapping = net2net.random_mapping(width, block.units, rng)
        _set_dense(block.dense, *net2net.remap_dense(
            kernel, bias, in_mapping, out_mapping, noise_std=noise_std, rng=rng))
        in_mapping = out_mapping
    kernel, bias = arrays[-1]
    _set_dense(target_chain.output.dense, *net2net.remap_dense(
        kernel, bias, in_mapping, net2net.identity_mapping(kernel.shape[1]),
        noise_std=noise_std, rng=rng))
    for layer in target_chain.prefix + [l for b in target_chain.blocks for l in b.post]:
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights(_identity_batchnorm(layer))
    if probe is None:
        probe = rng.standard_normal((_PROBE_SIZE,) + tuple(donor_chain.input_shape))
    deviation = float(np.max(np.abs(km.forward(target, probe) - km.forward(donor, probe))))
    return MorphReport(ops, 0.0, deviation, alignment)
