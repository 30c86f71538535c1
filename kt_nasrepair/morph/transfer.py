"""`transfer`: the Net2Net steps on numpy arrays along `alignment.analyse`'s plan.

No intermediate Keras model: each target layer is written once. NOTE: the function
`kt_nasrepair.morph.transfer` shadows this module; use `importlib.import_module`.
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
from kt_nasrepair.morph import numpy_forward as nf
from kt_nasrepair.morph.keras_models import NotMorphableError
from kt_nasrepair.morph.morphisms import check_noise_std
from kt_nasrepair.morph.net2net import DEFAULT_NOISE_STD

_PROBE_SIZE = 32

# NOTE: exact transfers measure below 1e-5 relative to the output scale (tests/morph); 1e-3
# leaves room for rounding in big chains and still flags real changes of function: 0.49 for
# a softmax layer widened 4 -> 7, 0.37 for a BatchNormalization compared across modes.
DEFAULT_MAX_DEVIATION = 1e-3


@functools.lru_cache(maxsize=1)
def _blas_controller():
    return ThreadpoolController()


@dataclasses.dataclass
class MorphReport:
    """What `transfer` did.

    Attributes:
        ops: Steps, e.g. `"widen dense_0 5->8"`, `"deepen after dense_1"`.
        seconds: Wall-clock time of the transfer, probe included.
        max_deviation: Largest `|target(x) - donor(x)|` on the probe in inference mode (NaN:
            not measured).
        alignment: Target hidden Dense layer -> the donor layer it copies (`None`: identity).
        max_deviation_training: The same in training mode (Dropout as the identity); `None`:
            not measured.
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
        """Whether the deviation is within `tol * max(1, output_scale)` (else: start cold).

        Args:
            tol: Relative tolerance, default `DEFAULT_MAX_DEVIATION`.
            training: Also require the training-mode deviation within `tol` (off by default:
                a donor BatchNormalization the target lacks is folded, exact in inference).

        Returns:
            `False` when a required deviation is above the bound or was not measured.
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
    """Whether `transfer(donor, target)` succeeds, from the architectures alone.

    Weight values never matter, and `transfer` raises exactly when this is `False`.

    Returns:
        `(True, None)`, or `(False, reason)`.
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

    Target hidden layers aligned onto donor ones (`can_transfer`) copy them widened
    (Net2WiderNet); the others become identity layers (Net2DeeperNet). A BatchNormalization
    in both models is carried across, one only the donor has is folded into the kernels
    (exact in inference only), one only the target has is set to the identity (in training
    mode on the probe's statistics). Dropout and optimizer state are not touched.

    Args:
        donor: A trained morphable model (not modified).
        target: A built morphable model; its weights are overwritten.
        noise_std: Zero-sum symmetry-breaking noise on the weights leaving copied units,
            relative to the donor kernel's standard deviation (0: none).
        seed: Seed of the random mappings and of the noise.
        probe: A batch of inputs (training data) to measure the deviations on and to set
            new BatchNormalizations from; default 32 standard-normal samples.

    Returns:
        A `MorphReport`.

    Raises:
        NotMorphableError: exactly when `can_transfer` says no (the target is untouched).
        ValueError: for a negative `noise_std`, or a `probe` of the wrong sample size.

    Example:

    ```python
    report = transfer(parent, child, seed=0, probe=x_train[:64])
    if not report.within_tolerance():
        ...  # start cold
    ```
    """
    start = time.perf_counter()
    noise_std = check_noise_std(noise_std)
    # NOTE: on a loaded 2-core machine spinning BLAS threads starve the backend's: 784-512x2-10
    # -> 784-1024x4-10 took 163 ms with default threads, 47 ms with one (benchmarks/morph.py).
    with _blas_controller().limit(limits=1, user_api="blas"):
        report = _transfer(donor, target, noise_std, seed, probe)
    report.seconds = time.perf_counter() - start
    return report


def _affine(layer):
    return net2net.batchnorm_affine(*km.batchnorm_weights(layer), layer.epsilon)


def _donor_arrays(plan: al.Plan):
    """Donor Dense layers with the uncarried BatchNormalizations folded in (in float64).

    A head one folds into its block's Dense layer, a tail one into the next one's inputs.
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


def _carry(pairs, mapping, carried, mean_shift=None):
    """Copies (donor, target) BatchNormalizations' vectors, units picked by `mapping`."""
    for n, (donor_bn, target_bn) in enumerate(pairs):
        gamma, beta, mean, var = (v[mapping] for v in km.batchnorm_weights(donor_bn))
        if mean_shift is not None and n == 0:
            # BN(z + b) = BN'(z) with moving mean m - b; batch statistics absorb b themselves.
            mean = (mean.astype(np.float64) - mean_shift).astype(np.float32)
        target_bn.set_weights(km.batchnorm_weight_list(target_bn, gamma, beta, mean, var))
        carried[target_bn.name] = donor_bn.name


def _write_identity_bn(layer, shift=None, mean=None, var=None):
    """Sets a BatchNormalization to `x + shift`: exactly in inference, on (mean, var) in training.

    gamma = sqrt(var + eps) over moving variance var is the identity in inference; beta =
    moving mean = the batch mean makes training mode on those statistics the identity too.
    """
    units, eps = int(layer.moving_mean.shape[0]), float(layer.epsilon)
    shift = np.zeros(units) if shift is None else np.asarray(shift, np.float64)
    mean = np.zeros(units) if mean is None else np.asarray(mean, np.float64)
    if var is None or not layer.scale:
        var = np.full(units, 1.0 - eps)
    var = np.asarray(var, np.float64)
    moving_mean = mean if layer.center else -shift
    beta = moving_mean + shift if layer.center else np.zeros(units)
    layer.set_weights(km.batchnorm_weight_list(
        layer, *(v.astype(np.float32) for v in (np.sqrt(var + eps), beta, moving_mean, var))))


def _transfer(donor, target, noise_std, seed, probe) -> MorphReport:
    plan = al.analyse(donor, target)
    if probe is not None:
        try:
            probe = nf.as_batch(probe, plan.donor.input_shape)
        except ValueError as error:
            raise ValueError(f"`probe` does not fit the models' input: {error}") from None
    rng = np.random.default_rng(seed)
    hidden = len(plan.donor_blocks) - 1
    ops, alignment, carried, shifts = [], {}, {}, {}
    in_mapping = net2net.identity_mapping(al.input_features(plan.target))
    for i, (kernel, bias) in enumerate(_donor_arrays(plan)):
        d_block, span = plan.donor_blocks[i], plan.span(i)
        width = d_block.units
        for j in span:
            t_block, copied = plan.target_blocks[j], j == span[0]
            if i < hidden:
                alignment[t_block.name] = d_block.name if copied else None
                if not copied:
                    ops.append(f"deepen after {plan.target_blocks[j - 1].name}")
                if t_block.units > width:
                    name = d_block.name if copied else t_block.name
                    ops.append(f"widen {name} {width}->{t_block.units}")
                out_mapping = net2net.random_mapping(width, t_block.units, rng)
            else:
                out_mapping = net2net.identity_mapping(width)
            layer_kernel, layer_bias = net2net.remap_dense(
                *((kernel, bias) if copied else net2net.identity_dense(width)),
                in_mapping, out_mapping, noise_std=noise_std, rng=rng)
            dense = t_block.block.dense
            absorb = None if dense.use_bias else layer_bias
            dense.set_weights(km.dense_weight_list(dense, layer_kernel, layer_bias))
            if copied and plan.carry_head[i]:
                _carry(zip(d_block.head_bns, t_block.head_bns), out_mapping, carried, absorb)
            elif absorb is not None and t_block.head[:1] == ("bn",):
                shifts[id(t_block.head_bns[0])] = absorb
            if j == span[-1] and i < hidden and plan.carry_tail[i]:
                _carry(zip(d_block.tail_bns, t_block.tail_bns), out_mapping, carried)
            in_mapping = out_mapping
    for d_bn, t_bn in plan.prefix_pairs:
        _carry([(d_bn, t_bn)], net2net.identity_mapping(int(d_bn.moving_mean.shape[0])), carried)
    if probe is None:
        probe = rng.standard_normal((_PROBE_SIZE,) + tuple(plan.donor.input_shape)).astype(
            np.float32)
    bns = km.batchnorms(km.chain_layers(plan.target))
    _set_identities(plan.target, [l for l in bns if l.name not in carried], shifts, probe)
    report = MorphReport(ops, 0.0, math.nan, alignment,
                         batch_norm={l.name: carried.get(l.name) for l in bns})
    _measure(report, donor, target, probe)
    return report


def _set_identities(chain, identities, shifts, probe):
    """Sets BatchNormalizations to the identity on their inputs' statistics on the probe.

    If the numpy pass fails, the rest get unit statistics (identity in inference only).
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


def _measure(report: MorphReport, donor, target, probe):
    def deviation(training):
        a, b = _outputs(target, probe, training), _outputs(donor, probe, training)
        if a is None or b is None or a.shape != b.shape:
            return None, b
        return float(np.max(np.abs(a.astype(np.float64) - b))), b

    inference, donor_out = deviation(False)
    report.max_deviation = math.nan if inference is None else inference
    if km.batchnorms(donor.layers) or km.batchnorms(target.layers):
        report.max_deviation_training, _ = deviation(True)
    else:  # Dropout aside, both modes compute the same function
        report.max_deviation_training = inference
    if donor_out is not None and donor_out.size:
        report.output_scale = float(np.max(np.abs(donor_out)))
