"""Donor -> target: writing a donor's function into a larger target (`transfer`).

`transfer` never builds intermediate Keras models: it composes the Net2Net steps on numpy
arrays (`net2net`) along the plan of `alignment.analyse` and writes each target layer once.

NOTE: the package re-exports the function `transfer`, which shadows this module as the
attribute `kt_nasrepair.morph.transfer`; reach the module through
`importlib.import_module("kt_nasrepair.morph.transfer")` if needed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import time

import keras
import numpy as np

from kt_nasrepair._validation import check, is_number
from kt_nasrepair.morph import alignment as al
from kt_nasrepair.morph import keras_models as km
from kt_nasrepair.morph import net2net
from kt_nasrepair.morph import numpy_forward as nf
from kt_nasrepair.morph.keras_models import NotMorphableError
from kt_nasrepair.morph.morphisms import check_noise_std
from kt_nasrepair.morph.net2net import DEFAULT_NOISE_STD

_PROBE_SIZE = 32

# NOTE: a transfer is exact up to float32 rounding: the zero-sum noise (`noise_std`) keeps the
# function, and the measured `max_deviation` of exact transfers stays below 1e-5 relative to
# the output scale (tests/morph), also with the default noise. 1e-3 leaves two orders of
# magnitude for rounding in deep or wide chains and still flags every real change of
# function: a unit-mixing activation (0.49 on a softmax layer widened 4 -> 7), a
# BatchNormalization compared across modes (0.37).
DEFAULT_MAX_DEVIATION = 1e-3


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
        max_deviation: Largest `|target(x) - donor(x)|` over the probe batch in inference mode
            (NaN when it could not be measured).
        alignment: For each hidden Dense layer of the target, the donor layer it copies, or
            `None` for an inserted identity layer.
        max_deviation_training: The same in training mode: BatchNormalization on the probe
            batch's statistics, Dropout taken as the identity (rate 0: its masks are random
            and differ between any two runs). `None` when it could not be measured.
        output_scale: Largest `|donor(x)|` over the probe batch (inference mode).
        batch_norm: For each BatchNormalization of the target, the donor BatchNormalization
            whose scale, shift and moving statistics it carries, or `None` when it was set to
            the identity (see docs/morph.md).
    """

    ops: list
    seconds: float
    max_deviation: float
    alignment: dict = dataclasses.field(default_factory=dict)
    max_deviation_training: float | None = None
    output_scale: float = 1.0
    batch_norm: dict = dataclasses.field(default_factory=dict)

    def within_tolerance(self, tol: float = DEFAULT_MAX_DEVIATION, *,
                         training: bool = False) -> bool:
        """Whether the measured deviation is within `tol` relative to the output scale.

        The bound is `tol * max(1, output_scale)`: absolute for probabilities and other
        outputs of order one, relative for larger outputs. A transfer outside it changed the
        function beyond rounding and should not be used as a warm start (start cold).

        Args:
            tol: Relative tolerance, default `DEFAULT_MAX_DEVIATION`.
            training: Also require the training-mode deviation to be within `tol` (and
                measured). Off by default: a donor BatchNormalization the target lacks is
                folded, exact in inference only.

        Returns:
            `False` when a required deviation is above the bound or could not be measured.
        """
        check(is_number(tol) and tol >= 0, "tol", tol, "a finite number >= 0")
        bound = tol * max(1.0, self.output_scale)
        deviations = [self.max_deviation] + ([self.max_deviation_training] if training else [])
        return all(d is not None and d <= bound for d in deviations)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of the report (NaN deviations as `None`)."""

        def number(value):
            return None if value is None or math.isnan(value) else float(value)

        return {
            "ops": [str(op) for op in self.ops],
            "seconds": float(self.seconds),
            "max_deviation": number(self.max_deviation),
            "max_deviation_training": number(self.max_deviation_training),
            "output_scale": number(self.output_scale),
            "alignment": {str(k): (None if v is None else str(v))
                          for k, v in self.alignment.items()},
            "batch_norm": {str(k): (None if v is None else str(v))
                           for k, v in self.batch_norm.items()},
        }


def can_transfer(donor: keras.Model, target: keras.Model) -> tuple[bool, str | None]:
    """Whether `transfer(donor, target)` succeeds, answered from the architectures alone.

    The answer depends on the layers, never on weight values, so it is the same before and
    after the donor's weights are loaded, and `transfer` raises exactly when it is `False`.

    Returns:
        `(True, None)`, or `(False, reason)`.

    Example:

    ```python
    ok, reason = can_transfer(parent_model, child_model)
    ```
    """
    try:
        al.analyse(donor, target)
    except NotMorphableError as error:
        return False, str(error)
    return True, None


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
    themselves widened as needed. A BatchNormalization present at the same place in both
    models is carried across (scale, shift and moving statistics, copied along with their
    units), so both inference and training mode are preserved; a donor one the target lacks
    is folded into the Dense kernels (exact in inference only); a target one the donor lacks
    is set to the identity, exactly in inference and on the probe batch's statistics in
    training mode. Dropout is ignored. Optimizer state is not touched: it belongs to the old
    parametrisation (docs/morph.md).

    Args:
        donor: A trained morphable model (not modified).
        target: An already built morphable model; its weights are overwritten.
        noise_std: Symmetry-breaking, zero-sum noise on the weights leaving copied units,
            relative to the standard deviation of the donor kernel (0 disables it; the
            function is preserved either way up to float32 rounding).
        seed: Seed of the random mappings and of the noise.
        probe: Inputs to measure the deviations on, and whose statistics the target's new
            identity BatchNormalization layers take (pass a batch of training data);
            defaults to 32 standard-normal samples of the input shape. Samples of the input's
            size in another shape (`(n, 64)` for an input `(64, 1)`) are reshaped.

    Returns:
        A `MorphReport`.

    Raises:
        NotMorphableError: when the target is not reachable from the donor, with the reason
            (exactly when `can_transfer` says so); the target is then left untouched.
        ValueError: when `noise_std` is negative or `probe` does not hold samples of the
            input's size.

    Example:

    ```python
    report = transfer(parent, child, seed=0, probe=x_train[:64])
    report.ops  # ["widen dense_0 64->128", "widen dense_1 64->128", "deepen after dense_1", ...]
    if not report.within_tolerance():
        ...  # start cold
    ```
    """
    start = time.perf_counter()
    noise_std = check_noise_std(noise_std)
    with _single_threaded_blas():
        report = _transfer(donor, target, noise_std, seed, probe)
    report.seconds = time.perf_counter() - start
    return report


def _donor_arrays(plan: al.Plan):
    """Donor Dense layers with the BatchNormalizations that are not carried folded in.

    A head normalisation (before the block's nonlinearities) folds into that block's Dense
    layer; a tail one (after them) folds into the next Dense layer's inputs, so the hidden
    value passed on is the nonlinearity's output itself. Computed in float64.
    """
    arrays, pending = [], None
    for i, shape in enumerate(plan.donor_blocks):
        kernel, bias = (a.astype(np.float64) for a in km.dense_weights(shape.block.dense))
        if pending is not None:
            kernel, bias = net2net.fold_input_affine(kernel, bias, *pending)
        if not plan.carry_head[i]:
            for layer in shape.head_bns:
                kernel, bias = net2net.fold_output_affine(kernel, bias, *_affine(layer))
        pending = None
        if i < len(plan.carry_tail) and shape.tail_bns and not plan.carry_tail[i]:
            for layer in shape.tail_bns:
                scale, shift = _affine(layer)
                pending = (scale, shift) if pending is None else (
                    pending[0] * scale, pending[1] * scale + shift)
        arrays.append((kernel.astype(np.float32), bias.astype(np.float32)))
    return arrays


def _affine(layer):
    return net2net.batchnorm_affine(*km.batchnorm_weights(layer), layer.epsilon)


def _carry(donor_bn, target_bn, mapping, mean_shift=None):
    gamma, beta, mean, var = (v[mapping] for v in km.batchnorm_weights(donor_bn))
    if mean_shift is not None:
        # BN(z + b) = BN'(z) with moving mean m - b; batch statistics absorb b themselves.
        mean = (mean.astype(np.float64) - mean_shift).astype(np.float32)
    target_bn.set_weights(km.batchnorm_weight_list(target_bn, gamma, beta, mean, var))


def _write_identity_bn(layer, shift=None, mean=None, var=None):
    """Sets a BatchNormalization to `x + shift`: exactly in inference, on (mean, var) in training.

    With gamma = sqrt(var + eps) and moving variance var, `gamma / sqrt(moving_var + eps)`
    is 1 whatever var is, so inference is the identity; with beta = moving mean = the batch
    mean, training mode on a batch with exactly these statistics is the identity too.
    """
    units = int(layer.moving_mean.shape[0])
    eps = float(layer.epsilon)
    shift = np.zeros(units) if shift is None else np.asarray(shift, np.float64)
    mean = np.zeros(units) if mean is None else np.asarray(mean, np.float64)
    var = np.full(units, 1.0 - eps) if var is None else np.asarray(var, np.float64)
    if not layer.scale:
        var = np.full(units, 1.0 - eps)
    gamma = np.sqrt(var + eps)
    moving_mean = mean if layer.center else -shift
    beta = moving_mean + shift if layer.center else np.zeros(units)
    layer.set_weights(km.batchnorm_weight_list(
        layer, *(v.astype(np.float32) for v in (gamma, beta, moving_mean, var))))


def _set_dense(layer, kernel, bias):
    layer.set_weights([kernel, bias] if layer.use_bias else [kernel])


def _transfer(donor, target, noise_std, seed, probe) -> MorphReport:
    plan = al.analyse(donor, target)
    if probe is not None:
        try:
            probe = nf.as_batch(probe, plan.donor.input_shape)
        except ValueError as error:
            raise ValueError(f"`probe` does not fit the models' input: {error}") from None
    rng = np.random.default_rng(seed)
    arrays = _donor_arrays(plan)
    d_hidden, t_hidden = plan.donor_blocks[:-1], plan.target_blocks[:-1]
    ops, alignment, carried, shifts = [], {}, {}, {}
    in_mapping = net2net.identity_mapping(al.input_features(plan.target))
    for i, (kernel, bias) in enumerate(arrays):
        width = plan.donor_blocks[i].units
        for j in plan.span(i):
            t_block = plan.target_blocks[j]
            copied = j == plan.copy_of(i)
            if i < len(d_hidden):
                alignment[t_block.name] = d_hidden[i].name if copied else None
                name = d_hidden[i].name if copied else t_block.name
                if not copied:
                    ops.append(f"deepen after {t_hidden[j - 1].name}")
                if t_block.units > width:
                    ops.append(f"widen {name} {width}->{t_block.units}")
                out_mapping = net2net.random_mapping(width, t_block.units, rng)
            else:
                out_mapping = net2net.identity_mapping(width)
            layer_kernel, layer_bias = (kernel, bias) if copied else net2net.identity_dense(width)
            layer_kernel, layer_bias = net2net.remap_dense(
                layer_kernel, layer_bias, in_mapping, out_mapping, noise_std=noise_std, rng=rng)
            absorb = None if t_block.block.dense.use_bias else layer_bias
            _set_dense(t_block.block.dense, layer_kernel, layer_bias)
            if copied and plan.carry_head[i]:
                pairs = zip(plan.donor_blocks[i].head_bns, t_block.head_bns)
                for n, (d_bn, t_bn) in enumerate(pairs):
                    _carry(d_bn, t_bn, out_mapping, absorb if n == 0 else None)
                    carried[t_bn.name] = d_bn.name
            elif absorb is not None and t_block.head_bns and t_block.head[0] == "bn":
                shifts[id(t_block.head_bns[0])] = absorb
            if j == plan.span(i)[-1] and i < len(plan.carry_tail) and plan.carry_tail[i]:
                for d_bn, t_bn in zip(plan.donor_blocks[i].tail_bns, t_block.tail_bns):
                    _carry(d_bn, t_bn, out_mapping)
                    carried[t_bn.name] = d_bn.name
            in_mapping = out_mapping
    for d_bn, t_bn in plan.prefix_pairs:
        _carry(d_bn, t_bn, net2net.identity_mapping(int(d_bn.moving_mean.shape[0])))
        carried[t_bn.name] = d_bn.name
    if probe is None:
        probe = rng.standard_normal((_PROBE_SIZE,) + tuple(plan.donor.input_shape))
        probe = probe.astype(np.float32)
    bns = [l for l in km.chain_layers(plan.target) if type(l).__name__ == "BatchNormalization"]
    identities = [l for l in bns if l.name not in carried]
    _set_identities(plan.target, identities, shifts, probe)
    report = MorphReport(ops, 0.0, math.nan, alignment,
                         batch_norm={l.name: carried.get(l.name) for l in bns})
    _measure(report, donor, target, probe)
    return report


def _set_identities(chain, identities, shifts, probe):
    """Sets the target's uncarried BatchNormalizations to the identity on the probe's statistics.

    A training-mode numpy pass gives each one the statistics of its own input on the probe
    batch; if the pass cannot run, the remaining ones get unit statistics (identity in
    inference only).
    """
    pending = {id(layer): layer for layer in identities}
    try:
        x = nf.as_batch(probe, chain.input_shape)
        for layer in km.chain_layers(chain):
            if id(layer) in pending:
                mean, var = nf.batch_moments(layer, x)
                _write_identity_bn(pending.pop(id(layer)), shifts.get(id(layer)), mean, var)
            x = nf.forward_layer(layer, x, training=True)
    except Exception:  # any failure of the numpy pass: fall back to unit statistics
        pass
    for key, layer in pending.items():
        _write_identity_bn(layer, shifts.get(key))


def _outputs(model, x, training):
    """The model's outputs in numpy, else through Keras; `None` when neither works."""
    try:
        return nf.forward(model, x, training=training)
    except Exception:  # e.g. a layer option the numpy pass does not model
        pass
    try:
        return _keras_outputs(model, x, training)
    except Exception:
        return None


def _keras_outputs(model, x, training):
    layers = model.layers
    if training and any(type(l).__name__ == "Dropout" and l.rate > 0 for l in layers):
        return None  # random masks: no deterministic training-mode output
    bns = [l for l in layers if type(l).__name__ == "BatchNormalization"]
    saved = [l.get_weights() for l in bns]
    try:
        out = model(keras.ops.convert_to_tensor(x), training=training)
        return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32)
    finally:
        for layer, weights in zip(bns, saved):  # training mode updates moving statistics
            layer.set_weights(weights)


def _measure(report: MorphReport, donor, target, probe):
    def deviation(training):
        a, b = _outputs(target, probe, training), _outputs(donor, probe, training)
        if a is None or b is None or a.shape != b.shape:
            return None, b
        return float(np.max(np.abs(a.astype(np.float64) - b))), b

    inference, donor_out = deviation(False)
    report.max_deviation = math.nan if inference is None else inference
    if _has_batchnorm(donor) or _has_batchnorm(target):
        report.max_deviation_training, _ = deviation(True)
    else:  # Dropout aside, both modes compute the same function
        report.max_deviation_training = inference
    if donor_out is not None and donor_out.size:
        report.output_scale = float(np.max(np.abs(donor_out)))


def _has_batchnorm(model) -> bool:
    return any(type(layer).__name__ == "BatchNormalization" for layer in model.layers)
