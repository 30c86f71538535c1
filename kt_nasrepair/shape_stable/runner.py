"""`ShapeStableRunner`: fits compact MLPs inside one compiled padded network."""

from __future__ import annotations

import json

import keras
import numpy as np

from kt_nasrepair.shape_stable.model import PaddedDenseModel
from kt_nasrepair.shape_stable.spec import dense_spec

MODES = (True, False, "auto")
# `shape_stable="auto"` on TensorFlow: on when the padded network costs at most this many
# multiply-adds per sample. Measured in docs/performance.md ("Compile once per search"):
# tracing a new model costs ~1.3 s, which pays for the padded compute of small spaces only.
TF_AUTO_MAX_MACS = 200_000


def padded_macs(input_dim: int, max_depth: int, max_width: int, outputs: int) -> int:
    """Multiply-adds per sample of the padded network's forward pass."""
    return input_dim * max_width + (max_depth - 1) * max_width**2 + max_width * outputs


def auto_enabled(backend: str, macs: int) -> tuple[bool, str]:
    """Whether `shape_stable="auto"` runs a trial padded on `backend`, and why.

    Args:
        backend: `keras.backend.backend()`.
        macs: The padded network's multiply-adds per sample.

    Returns:
        `(enabled, reason)`.
    """
    if backend == "jax":
        return True, ""
    if backend == "tensorflow":
        if macs <= TF_AUTO_MAX_MACS:
            return True, ""
        return False, (f"auto: on TensorFlow the padded network ({macs:,} multiply-adds per "
                       f"sample, above {TF_AUTO_MAX_MACS:,}) costs more than tracing saves")
    return False, f"auto: the {backend} backend compiles nothing, so padding saves nothing"


def _comparable_compile_config(model):
    """The compile config without a float learning rate (a variable of the padded model)."""
    config = model.get_compile_config()
    if not config:
        return None, None
    optimizer = json.loads(json.dumps(config.get("optimizer"), default=repr))
    learning_rate = None
    if isinstance(optimizer, dict) and isinstance(
        optimizer.get("config", {}).get("learning_rate"), (int, float)
    ):
        learning_rate = float(optimizer["config"].pop("learning_rate"))
    if isinstance(optimizer, dict):
        optimizer.get("config", {}).pop("name", None)  # unique per instance: adam_1, ...
    rest = {k: v for k, v in config.items() if k != "optimizer"}
    return json.dumps([optimizer, rest], sort_keys=True, default=repr), learning_rate


class ShapeStableRunner:
    """Fits each compact MLP of a space in one padded network, traced and compiled once.

    One padded network is kept per family (input, activation, dropout on/off, output,
    compile settings); a hypermodel with one activation has one. A model it cannot run (one
    grown beyond the space, a user's own layers, a distribution strategy, a callback that
    needs the model's own layers) is fitted as it is, and `last_reason` says why.

    Args:
        max_depth: Most hidden layers of the space.
        max_width: Widest hidden layer of the space.
        mode: `True`, `False` or `"auto"` (see `auto_enabled`).
    """

    def __init__(self, max_depth: int, max_width: int, mode="auto"):
        if mode not in MODES:
            raise ValueError(
                f"`shape_stable` must be True, False or 'auto'. Received: shape_stable={mode!r}"
            )
        self.max_depth = int(max_depth)
        self.max_width = int(max_width)
        self.mode = mode
        self.padded_models = {}
        self.last_mode = None
        self.last_reason = ""

    @property
    def train_traces(self) -> int:
        """Train-step traces over every padded network (each is one compilation)."""
        return sum(model.train_traces for model in self.padded_models.values())

    def fit(self, model, *args, **kwargs):
        """`model.fit(*args, **kwargs)`, run in the padded network when it can be."""
        padded, reason = self.prepare(model, kwargs.get("callbacks", ()))
        self.last_reason = reason
        if padded is None:
            self.last_mode = "compact"
            return model.fit(*args, **kwargs)
        self.last_mode = "shape_stable"
        try:
            return padded.fit(*args, **kwargs)
        finally:
            padded.unload()  # the compact model holds what was trained, even on a failure

    def prepare(self, model, callbacks=()):
        """The padded network loaded with `model`, or None and why `model` runs compact.

        Args:
            model: A compiled compact model.
            callbacks: The callbacks its `fit` will get.

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
                padded_macs(in_dim, self.max_depth, self.max_width, spec.outputs),
            )
            if not enabled:
                return None, reason
        try:
            key, learning_rate = _comparable_compile_config(model)
        except Exception as error:  # a loss or metric Keras cannot serialize
            return None, f"the compile settings cannot be compared: {error}"
        if key is None:
            return None, "the model is not compiled"
        padded = self.padded_models.get((spec.family, key))
        if padded is None:
            padded = self.padded_models[(spec.family, key)] = self._new_padded(model, spec)
        self._load(padded, model, spec, learning_rate)
        return padded, ""

    def _new_padded(self, model, spec):
        padded = PaddedDenseModel(
            spec.input_shape, spec.activation, spec.dropout is not None, spec.outputs,
            spec.output_activation, self.max_depth, self.max_width,
        )
        padded.compile_from_config(model.get_compile_config())
        if not padded.optimizer.built:
            padded.optimizer.build(padded.trainable_variables)
        padded._set_untracked("initial_optimizer_state", [
            np.array(keras.ops.convert_to_numpy(v)) for v in padded.optimizer.variables
        ])
        return padded

    def _load(self, padded, model, spec, learning_rate):
        same_model = padded.compact is not None and padded.compact[0] is model
        padded.load(model, spec)
        if same_model:
            return  # a later segment of the same fit: its optimizer state carries on
        # A new model starts with a fresh optimizer, as its own compile would give it.
        for variable, value in zip(padded.optimizer.variables, padded.initial_optimizer_state):
            variable.assign(value)
        if learning_rate is not None:
            # The model's own rate: the trial's, or one a callback changed before this fit.
            padded.optimizer.learning_rate = float(
                keras.ops.convert_to_numpy(model.optimizer.learning_rate)
            )
