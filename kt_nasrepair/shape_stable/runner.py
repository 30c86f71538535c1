"""`ShapeStableRunner`: fits compact MLPs inside one compiled padded network."""

from __future__ import annotations

import json

import keras
import numpy as np

from kt_nasrepair.shape_stable.model import PaddedDenseModel
from kt_nasrepair.shape_stable.spec import dense_spec

MODES = (True, False, "auto")
# NOTE: on TF a trace costs ~0.4 s and padding runs ~8e9 multiply-adds/s (docs/performance.md).
TF_MAX_EXTRA_MACS = 3e9
# The most padded multiply-adds per sample on TF when the number of samples is unknown.
TF_MAX_PADDED_MACS = 200_000


def report_fit_mode(callbacks, mode: str) -> None:
    """Tells every callback with an `on_fit_mode(mode)` method how the fit runs."""
    for callback in callbacks or ():
        if hasattr(callback, "on_fit_mode"):
            callback.on_fit_mode(mode)


def dense_macs(input_dim: int, widths, outputs: int) -> int:
    """Multiply-adds per sample of a dense chain's forward pass."""
    dims = [input_dim, *widths, outputs]
    return int(sum(a * b for a, b in zip(dims, dims[1:])))


def auto_enabled(backend: str, padded_macs: int, own_macs: int,
                 sample_epochs: float | None) -> tuple[bool, str]:
    """Whether `shape_stable="auto"` runs a trial padded on `backend`, and why not.

    Args:
        backend: `keras.backend.backend()`.
        padded_macs: The padded network's forward multiply-adds per sample.
        own_macs: The trial's own network's.
        sample_epochs: Training samples times epochs of the fit, or None when unknown.

    Returns:
        `(enabled, reason)`: the reason is empty when enabled.
    """
    if backend == "jax":
        return True, ""  # XLA compilation is 95-98% of a small trial
    if backend != "tensorflow":
        return False, f"auto: the {backend} backend compiles nothing, so padding saves nothing"
    if sample_epochs is None:
        if padded_macs <= TF_MAX_PADDED_MACS:
            return True, ""
        return False, (f"auto: on TensorFlow the padded network ({padded_macs:,} "
                       f"multiply-adds per sample, above {TF_MAX_PADDED_MACS:,}) costs "
                       "more than tracing saves")
    extra = (padded_macs - own_macs) * sample_epochs
    if extra <= TF_MAX_EXTRA_MACS:
        return True, ""
    return False, (f"auto: on TensorFlow the padded network's extra {extra:.2g} "
                   f"multiply-adds (above {TF_MAX_EXTRA_MACS:.0e}) cost more than "
                   "tracing saves")


def sample_epochs(args, kwargs) -> float | None:
    """Training samples times epochs of a `fit(*args, **kwargs)`, or None when unknown."""
    x = args[0] if args else kwargs.get("x")
    shape = getattr(x, "shape", None)
    if not shape:
        return None  # a dataset, a generator or a dict of inputs
    samples = shape[0] * (1.0 - float(kwargs.get("validation_split") or 0.0))
    epochs = max(int(kwargs.get("epochs", 1)) - int(kwargs.get("initial_epoch", 0)), 1)
    return samples * epochs


def compile_key(model):
    """`((key, float_rate), "")` of a compiled model, or `(None, reason)`; models with one key
    share a padded network (a float learning rate is a variable, so not in the key)."""
    try:
        config = model.get_compile_config()
        if not config:
            return None, "the model is not compiled"
        optimizer = json.loads(json.dumps(config.get("optimizer"), default=repr))
        optimizer_config = optimizer.get("config", {}) if isinstance(optimizer, dict) else {}
        float_rate = isinstance(optimizer_config.get("learning_rate"), (int, float))
        if float_rate:
            optimizer_config.pop("learning_rate")
        optimizer_config.pop("name", None)  # unique per instance: adam_1, ...
        rest = {k: v for k, v in config.items() if k != "optimizer"}
        key = json.dumps([optimizer, rest], sort_keys=True, default=repr)
    except Exception as error:  # a loss or metric Keras cannot serialize
        return None, f"the compile settings cannot be compared: {error}"
    return (key, float_rate), ""


class ShapeStableRunner:
    """Fits each compact MLP of a space in one padded network, traced and compiled once.

    One padded network is kept per family (input, activation, dropout, output, compile
    settings); a model it cannot run is fitted as it is, and `last_reason` says why.

    Args:
        max_depth: Most hidden layers of the space.
        max_width: Widest hidden layer of the space.
        mode: `True`, `False` or `"auto"` (see `auto_enabled`).
    """

    def __init__(self, max_depth: int, max_width: int, mode="auto"):
        # `1 in MODES` is true (1 == True): only the bools and the string are accepted.
        if not isinstance(mode, (bool, str)) or mode not in MODES:
            raise ValueError(
                f"`shape_stable` must be True, False or 'auto'. Received: shape_stable={mode!r}"
            )
        self.max_depth, self.max_width, self.mode = int(max_depth), int(max_width), mode
        self.padded_models = {}
        self.last_mode, self.last_reason = None, ""

    @property
    def train_traces(self) -> int:
        """Train-step traces over every padded network (each is one compilation)."""
        return sum(model.train_traces for model in self.padded_models.values())

    def fit(self, model, *args, **kwargs):
        """`model.fit(*args, **kwargs)`, run in the padded network when it can be."""
        padded, reason = self.prepare(model, kwargs.get("callbacks", ()),
                                      sample_epochs(args, kwargs))
        self.last_reason = reason
        self.last_mode = "compact" if padded is None else "shape_stable"
        report_fit_mode(kwargs.get("callbacks"),
                        self.last_mode + (f" ({reason})" if reason else ""))
        if padded is None:
            return model.fit(*args, **kwargs)
        try:
            return padded.fit(*args, **kwargs)
        finally:
            padded.unload()  # the compact model holds what was trained, even on a failure

    def prepare(self, model, callbacks=(), sample_epochs=None):
        """The padded network loaded with `model`, or None and why `model` runs compact.

        Args:
            model: A compiled compact model.
            callbacks: The callbacks its `fit` will get.
            sample_epochs: Training samples times epochs of that fit (for `"auto"`).

        Returns:
            `(padded, "")` or `(None, reason)`.
        """
        if self.mode is False:
            return None, "shape_stable=False"
        needs_own = [type(cb).__name__ for cb in callbacks or ()
                     if getattr(cb, "needs_own_model", False)]
        if needs_own:
            return None, f"callback {needs_own[0]} works on the model's own layers"
        if keras.backend.backend() == "jax" and keras.distribution.distribution() is not None:
            return None, "a keras.distribution is set"
        if getattr(model, "_distribute_strategy", None) is not None:
            return None, "the model was built under a tf.distribute strategy"
        spec, reason = dense_spec(model)
        if spec is None:
            return None, reason
        if len(spec.widths) > self.max_depth or max(spec.widths) > self.max_width:
            return None, (f"hidden widths {list(spec.widths)} exceed the space's "
                          f"{self.max_depth} x {self.max_width}")
        if self.mode == "auto":
            in_dim = int(np.prod(spec.input_shape))
            enabled, reason = auto_enabled(
                keras.backend.backend(),
                dense_macs(in_dim, [self.max_width] * self.max_depth, spec.outputs),
                dense_macs(in_dim, spec.widths, spec.outputs),
                sample_epochs,
            )
            if not enabled:
                return None, reason
        compiled, reason = compile_key(model)
        if compiled is None:
            return None, reason
        key, float_rate = compiled
        padded = self.padded_models.get((spec.family, key))
        if padded is None:
            padded = self.padded_models[(spec.family, key)] = PaddedDenseModel(
                spec.input_shape, spec.activation, spec.dropout is not None, spec.outputs,
                spec.output_activation, self.max_depth, self.max_width,
            )
            padded.compile_from_config(model.get_compile_config())
            if not padded.optimizer.built:
                padded.optimizer.build(padded.trainable_variables)
            padded.snapshot_optimizer()
        same_model = padded.compact is not None and padded.compact[0] is model
        padded.load(model, spec)
        if not same_model:  # a new model: a fresh optimizer at its own current rate
            padded.reset_optimizer()
            if float_rate:
                padded.optimizer.learning_rate = float(
                    keras.ops.convert_to_numpy(model.optimizer.learning_rate))
        return padded, ""
