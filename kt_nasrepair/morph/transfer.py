"""`transfer`: the Net2Net steps on numpy arrays along `alignment.analyse`'s plan.

NOTE: the function `kt_nasrepair.morph.transfer` shadows this module (use importlib).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import keras
import numpy as np
from threadpoolctl import ThreadpoolController

from kt_nasrepair._validation import check, is_number
from kt_nasrepair.morph import alignment as al
from kt_nasrepair.morph import keras_models as km
from kt_nasrepair.morph import net2net
from kt_nasrepair.morph.keras_models import NotMorphableError
from kt_nasrepair.morph.morphisms import check_noise_std
from kt_nasrepair.morph.net2net import DEFAULT_NOISE_STD

_PROBE_SIZE = 32
_blas_controller = functools.lru_cache(maxsize=1)(ThreadpoolController)

# NOTE: exact transfers measure below 1e-5 of the output scale; real changes of function
# measure 0.49 (softmax widened 4 -> 7) or 0.37 (BatchNormalization across modes).
DEFAULT_MAX_DEVIATION = 1e-3


@dataclasses.dataclass
class MorphReport:
    """What `transfer` did.

    Attributes:
        ops: Steps, e.g. `"widen dense_0 5->8"`, `"deepen after dense_1"`.
        seconds: Wall-clock time of the transfer, probe included.
        max_deviation: Largest `|target(x) - donor(x)|` on the probe, inference mode (NaN: none).
        alignment: Target hidden Dense layer -> the donor layer it copies (`None`: identity).
        max_deviation_training: The same in training mode, Dropout off (`None`: not measured).
        output_scale: Largest `|donor(x)|` on the probe (inference mode).
        batch_norm: Target BatchNormalization -> the donor one it carries (`None`: identity).
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
        """Whether the deviation was measured and is within `tol * max(1, output_scale)`.

        Args:
            tol: Relative tolerance, default `DEFAULT_MAX_DEVIATION`.
            training: Also require the training-mode deviation within the bound.
        """
        check(is_number(tol) and tol >= 0, "tol", tol, "a finite number >= 0")
        bound = tol * max(1.0, self.output_scale)
        deviations = [self.max_deviation] + ([self.max_deviation_training] if training else [])
        return all(d is not None and d <= bound for d in deviations)

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of the report (NaN deviations as `None`)."""
        result = {"ops": [str(op) for op in self.ops], "seconds": float(self.seconds)}
        for key in ("max_deviation", "max_deviation_training", "output_scale"):
            value = getattr(self, key)
            result[key] = None if value is None or math.isnan(value) else float(value)
        for key in ("alignment", "batch_norm"):
            result[key] = {str(k): (None if v is None else str(v))
                           for k, v in getattr(self, key).items()}
        return result


def can_transfer(donor: keras.Model, target: keras.Model) -> tuple[bool, str | None]:
    """Whether `transfer(donor, target)` succeeds, from the architectures: `(ok, reason)`."""
    try:
        al.analyse(donor, target)
    except NotMorphableError as error:
        return False, str(error)
    return True, None


def transfer(donor: keras.Model, target: keras.Model, *, noise_std: float = DEFAULT_NOISE_STD,
             seed: int | None = None, probe=None) -> MorphReport:
    """Writes into `target` weights that make it compute what `donor` computes (docs/morph.md).

    Args:
        donor: A trained morphable model (not modified).
        target: A built morphable model; its weights are overwritten.
        noise_std: Zero-sum symmetry-breaking noise, relative to the donor kernel's std.
        seed: Seed of the random mappings and of the noise.
        probe: Inputs (training data) to measure deviations on and set new BatchNormalizations
            from; default 32 standard-normal samples.

    Raises:
        NotMorphableError: exactly when `can_transfer` says no (the target is untouched).
        ValueError: for a negative `noise_std`, or a `probe` of the wrong sample size.
    """
    start = time.perf_counter()
    noise_std = check_noise_std(noise_std)
    # NOTE: spinning BLAS threads starve the backend's on a loaded 2-core machine:
    # 784-512x2-10 -> 784-1024x4-10 took 163 ms with default threads, 47 ms with one.
    with _blas_controller().limit(limits=1, user_api="blas"):
        report = _transfer(donor, target, noise_std, seed, probe)
    report.seconds = time.perf_counter() - start
    return report


def _affine(layer):
    return net2net.batchnorm_affine(*km.batchnorm_weights(layer), layer.epsilon)


def _donor_arrays(plan: al.Plan):
    """Donor Dense `(kernel, bias)` with uncarried head/tail BNs folded in (tail: next inputs)."""
    arrays, pending = [], None
    for i, shape in enumerate(plan.donor_blocks):
        kernel, bias = (a.astype(np.float64) for a in km.dense_weights(shape.block.dense))
        if pending is not None:
            kernel, bias = net2net.fold_input_affine(kernel, bias, *pending)
        for layer in () if plan.carry_head[i] else shape.head_bns:
            kernel, bias = net2net.fold_output_affine(kernel, bias, *_affine(layer))
        pending = None
        for layer in shape.tail_bns if i < len(plan.carry_tail) and not plan.carry_tail[i] else ():
            scale, shift = _affine(layer)
            pending = (scale, shift) if pending is None else (
                pending[0] * scale, pending[1] * scale + shift)
        arrays.append((kernel.astype(np.float32), bias.astype(np.float32)))
    return arrays


def _carry(pairs, mapping, carried, mean_shift=None):
    """Copies (donor, target) BatchNormalizations' vectors, units picked by `mapping`."""
    for n, (donor_bn, target_bn) in enumerate(pairs):
        gamma, beta, mean, var = (v[mapping] for v in km.batchnorm_weights(donor_bn))
        if mean_shift is not None and n == 0:
            # BN(z + b) = BN'(z) with moving mean m - b; batch statistics absorb b themselves.
            mean = (mean.astype(np.float64) - mean_shift).astype(np.float32)
        target_bn.set_weights(km.weight_list(target_bn, gamma, beta, mean, var))
        carried[target_bn.name] = donor_bn.name


def _write_identity_bn(layer, shift=None, mean=None, var=None):
    """Sets a BatchNormalization to `x + shift` in inference, and in training on (mean, var)."""
    units, eps = int(layer.moving_mean.shape[0]), float(layer.epsilon)
    shift = np.zeros(units) if shift is None else np.asarray(shift, np.float64)
    mean = np.zeros(units) if mean is None else np.asarray(mean, np.float64)
    var = np.asarray(var, float) if var is not None and layer.scale else np.full(units, 1 - eps)
    moving_mean = mean if layer.center else -shift
    beta = moving_mean + shift if layer.center else np.zeros(units)
    layer.set_weights(km.weight_list(
        layer, *(v.astype(np.float32) for v in (np.sqrt(var + eps), beta, moving_mean, var))))


def _transfer(donor, target, noise_std, seed, probe) -> MorphReport:
    plan = al.analyse(donor, target)
    if probe is not None:
        try:
            probe = km.as_batch(probe, plan.donor.input_shape)
        except ValueError as error:
            raise ValueError(f"`probe` does not fit the models' input: {error}") from None
    rng = np.random.default_rng(seed)
    ops, alignment, carried, shifts = [], {}, {}, {}
    in_mapping = net2net.identity_mapping(al.input_features(plan.target))
    for i, (kernel, bias) in enumerate(_donor_arrays(plan)):
        d_block, span, hidden = plan.donor_blocks[i], plan.span(i), i < len(plan.positions)
        width = d_block.units
        for j in span:
            # The output block is copied at its own width: no op, and an identity mapping.
            t_block, copied = plan.target_blocks[j], j == span[0]
            if hidden:
                alignment[t_block.name] = d_block.name if copied else None
            if not copied:
                ops.append(f"deepen after {plan.target_blocks[j - 1].name}")
            if t_block.units > width:
                name = d_block.name if copied else t_block.name
                ops.append(f"widen {name} {width}->{t_block.units}")
            out_mapping = net2net.random_mapping(width, t_block.units, rng)
            layer_kernel, layer_bias = net2net.remap_dense(
                *((kernel, bias) if copied else net2net.identity_dense(width)),
                in_mapping, out_mapping, noise_std=noise_std, rng=rng)
            dense = t_block.block.dense
            absorb = None if dense.use_bias else layer_bias
            dense.set_weights(km.weight_list(dense, layer_kernel, layer_bias))
            if copied and plan.carry_head[i]:
                _carry(zip(d_block.head_bns, t_block.head_bns), out_mapping, carried, absorb)
            elif absorb is not None and t_block.head[:1] == ("bn",):
                shifts[id(t_block.head_bns[0])] = absorb
            if j == span[-1] and hidden and plan.carry_tail[i]:
                _carry(zip(d_block.tail_bns, t_block.tail_bns), out_mapping, carried)
            in_mapping = out_mapping
    _carry(plan.prefix_pairs, slice(None), carried)
    if probe is None:
        probe = rng.standard_normal((_PROBE_SIZE, *plan.donor.input_shape)).astype(np.float32)
    bns = km.batchnorms(km.chain_layers(plan.target))
    _set_identities(plan.target, [l for l in bns if l.name not in carried], shifts, probe)
    report = MorphReport(ops, 0.0, math.nan, alignment,
                         batch_norm={l.name: carried.get(l.name) for l in bns})
    _measure(report, donor, target, probe)
    return report


def _set_identities(chain, identities, shifts, x):
    """Sets BNs to the identity on the statistics of probe `x` (unit ones if numpy fails)."""
    pending = {id(layer): layer for layer in identities}
    try:
        for layer in km.chain_layers(chain):
            if id(layer) in pending:
                _write_identity_bn(pending.pop(id(layer)), shifts.get(id(layer)),
                                   *km.batch_moments(layer, x))
            x = km.forward_layer(layer, x, training=True)
    except Exception:  # any failure of the numpy pass: fall back to unit statistics
        pass
    for key, layer in pending.items():
        _write_identity_bn(layer, shifts.get(key))


def _outputs(model, x, training):
    """The model's outputs in numpy, else through Keras; `None` when neither works."""
    try:
        return km.forward(model, x, training=training)
    except Exception:  # e.g. a layer option the numpy pass does not model
        pass
    try:
        if training and any(type(l).__name__ == "Dropout" and l.rate > 0 for l in model.layers):
            return None  # random masks: no deterministic training-mode output
        bns = km.batchnorms(model.layers)
        saved = [l.get_weights() for l in bns]
        try:
            out = model(keras.ops.convert_to_tensor(x), training=training)
            return np.asarray(keras.ops.convert_to_numpy(out), dtype=np.float32)
        finally:
            for layer, weights in zip(bns, saved):  # training mode updates moving statistics
                layer.set_weights(weights)
    except Exception:
        return None


def _measure(report: MorphReport, donor, target, probe):
    def deviation(training):
        a, b = _outputs(target, probe, training), _outputs(donor, probe, training)
        if not training and b is not None and b.size:
            report.output_scale = float(np.max(np.abs(b)))
        if a is None or b is None or a.shape != b.shape:
            return None
        return float(np.max(np.abs(a.astype(np.float64) - b)))

    inference = deviation(False)
    report.max_deviation = math.nan if inference is None else inference
    # Without BatchNormalization, and Dropout aside, both modes compute the same function.
    with_bn = km.batchnorms(donor.layers) or km.batchnorms(target.layers)
    report.max_deviation_training = deviation(True) if with_bn else inference
