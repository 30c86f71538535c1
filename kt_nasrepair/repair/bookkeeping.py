"""Lean per-trial bookkeeping: what `RepairTuner` inherits from KerasTuner and does not need.

`LeanTrialsMixin` overrides the KerasTuner and `RepairTuner` hooks that run once per trial and
cost time without serving a guarantee (resume after SIGKILL, atomic writes, distributed
search): the session reset before every build, the donor models rebuilt for every trial, the
tuner file rewritten unchanged after every trial, and the model-size count nobody reads. On
the JAX backend it also turns on JAX's persistent compilation cache, so a program compiled once
(a retry, a second execution, a resumed search, another worker) is not compiled again.

Put it first among the bases: `class Tuner(LeanTrialsMixin, RepairTuner)`. It must come before
the class that defines `_build_trial_architecture` and `load_model` in the MRO (RepairTuner
itself today): listed after it, as a base of that class, its donor cache would be shadowed.
The overridden hooks are KerasTuner's `_try_build`, `save`, `on_trial_begin` and
`on_trial_end` (keras-tuner is pinned < 1.5) and RepairTuner's `_build_trial_architecture`
and `load_model`; tests/repair/test_bookkeeping.py fails if any of them stops being called.
`benchmarks/trial_overhead.py --lean` measures what each cut saves (docs/performance.md).
"""

from __future__ import annotations

import collections
import json
import math
import os
import sys
import threading
import warnings

import keras
from keras_tuner import errors as kt_errors
from keras_tuner.engine import trial as trial_module

from kt_nasrepair._io import atomic_write_json

JAX_CACHE_DIRNAME = "jax_compilation_cache"
# NOTE: RepairTuner considers at most the 25 best completed trials as donors; keeping a few
# more than that bounds the memory of a long search while the usual donors stay cached.
MAX_CACHED_DONORS = 32

_jax_cache_lock = threading.Lock()
_jax_cache_dir = None  # the directory this process set, once


def enable_jax_compilation_cache(directory: str) -> str | None:
    """Turns on JAX's persistent compilation cache in `directory`, once per process.

    Does nothing unless the Keras backend is JAX (so `jax` is only imported when it is the
    backend). A cache directory already configured (by the user, `JAX_COMPILATION_CACHE_DIR`
    or an earlier call) is kept: JAX opens its cache once per process.

    Args:
        directory: Where compiled programs are stored (created if missing).

    Returns:
        The cache directory in use, or None when the backend is not JAX.

    Example:

    ```python
    enable_jax_compilation_cache("runs/mnist/jax_compilation_cache")
    ```
    """
    global _jax_cache_dir
    if keras.backend.backend() != "jax":
        return None
    with _jax_cache_lock:
        if _jax_cache_dir is not None:
            return _jax_cache_dir
        import jax  # only on the JAX backend, never at module import

        current = jax.config.jax_compilation_cache_dir
        if current:
            _jax_cache_dir = current
            return current
        os.makedirs(directory, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", directory)
        # NOTE: JAX only stores programs that took >= 1 s to compile and are not tiny;
        # a small MLP's train step compiles in well under a second on a GPU, and every
        # program repeats in a retried or resumed search, so store them all.
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
        _jax_cache_dir = directory
        return directory


# TensorFlow's `tf.custom_gradient` registers, in graph mode, one gradient function per traced
# call under this prefix (`custom_gradient.generate_name`).
_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _tf_gradient_registry() -> dict | None:
    """TensorFlow's global gradient registry (op type -> entry), or None on another backend.

    Read from `sys.modules`, never imported: on the TensorFlow backend Keras has loaded it.
    """
    if keras.backend.backend() != "tensorflow":
        return None
    tf_ops = sys.modules.get("tensorflow.python.framework.ops")
    registry = getattr(getattr(tf_ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


def custom_gradient_names() -> frozenset:
    """The custom gradients registered in TensorFlow so far (empty on other backends)."""
    registry = _tf_gradient_registry()
    if registry is None:
        return frozenset()
    return frozenset(k for k in list(registry) if k.startswith(_CUSTOM_GRADIENT_PREFIX))


def release_trial_gradients(before: frozenset) -> int:
    """Drops the custom gradients registered since `before`; returns how many were dropped.

    Why: every traced Keras training step on TensorFlow goes through
    `ReplicaContext.all_reduce` (the optimizer's gradient sum), a `tf.custom_gradient` that,
    in graph mode, registers its gradient function in TensorFlow's process-wide registry
    under a fresh name and never removes it. That function closes over the traced graph's
    tensors, so each trial's whole training graph (about 3 MB for a small MLP, two traces a
    trial) stays alive after its model is gone; `keras.backend.clear_session()` and
    `gc.collect()` do not free it (KerasTuner's RandomSearch grows 6-7 MB a trial,
    docs/performance.md).

    Why it is safe: the registry is read only when a symbolic gradient of that graph is
    built (`tf.gradients`, or differentiating a call of the traced function). A training
    step's gradient is taken by the tape while it is traced, with the function recorded on
    the tape itself; a trial that has ended is never traced or differentiated again, and a
    function still in use (the shape-stable network's, reused by later trials) runs without
    the registry. Only names registered during the trial are dropped.

    Args:
        before: `custom_gradient_names()` taken when the trial began.

    Returns:
        The number of registrations dropped (0 on other backends).
    """
    registry = _tf_gradient_registry()
    if registry is None:
        return 0
    added = [k for k in list(registry)
             if k.startswith(_CUSTOM_GRADIENT_PREFIX) and k not in before]
    for name in added:
        registry.pop(name, None)
    return len(added)


def clear_eager_kernel_cache() -> bool:
    """Empties TensorFlow's eager kernel cache (what `clear_session` also does); TF only.

    Why: every traced function a trial called (its training, evaluation and prediction
    steps) is instantiated once and cached as an eager kernel, which outlives the function;
    without this a search kept about 1-3 MB per trial (docs/performance.md). The next trial
    recreates the few kernels it needs (KerasTuner empties this cache before every trial).

    Returns:
        Whether a cache was emptied (False on other backends).
    """
    if keras.backend.backend() != "tensorflow":
        return False
    context = sys.modules.get("tensorflow.python.eager.context")
    if context is None:
        return False
    context.context().clear_kernel_cache()
    return True


class LeanTrialsMixin:
    """Cuts the per-trial bookkeeping a `RepairTuner` does not need; keeps every guarantee.

    Class attributes:
        jax_compilation_cache: `True` (default) stores JAX's compiled programs in
            `<project_dir>/jax_compilation_cache`; a string stores them there; `False` leaves
            JAX's cache settings alone. Ignored on other backends.

    Example:

    ```python
    class LeanRepairTuner(LeanTrialsMixin, kt_nasrepair.RepairTuner):
        pass
    ```
    """

    jax_compilation_cache: bool | str = True

    # -- building ---------------------------------------------------------------------------

    def _try_build(self, hp):
        """Builds the trial's model without KerasTuner's session reset and size count.

        Removes: `keras.backend.clear_session()` followed by `gc.collect()` before every build
        (clear_session collects garbage too, so two full collections per trial: 1.3-1.9 s a
        trial with TensorFlow loaded on 2 CPU cores, docs/performance.md), and, on TensorFlow,
        the eager kernel cache being emptied. Also removes the parameter count when
        `max_model_size` is not set.

        Why it is safe: Keras 3 runs eagerly (no default graph to leak into); every model
        keeps its own variables and compiled functions, freed by reference counting when the
        trial's model goes, and Python's cyclic collector still runs on its own schedule.
        What clear_session resets besides (auto-generated layer names, the global seed
        generator's position) does not reach a checkpoint: Keras 3 stores weights by position
        in the model (class name and order), never by layer name, and the search stays deterministic under one seed (the
        initial weights of a trial come from a different but reproducible draw).
        The oversized-model check keeps KerasTuner's message and error type.
        """
        self._maybe_enable_jax_cache()
        model = self._build_hypermodel(hp)
        if not isinstance(model, keras.models.Model):
            raise kt_errors.FatalTypeError(
                "Expected the model-building function, or HyperModel.build() "
                "to return a valid Keras Model instance. "
                f"Received: {model} of type {type(model)}."
            )
        if self.max_model_size:
            size = _model_size(model)
            if size > self.max_model_size:
                raise kt_errors.FailedTrialError(f"Oversized model: {size} parameters. Skip model.")
        return model

    def _maybe_enable_jax_cache(self):
        setting = self.jax_compilation_cache
        if setting is False or setting is None:
            return
        directory = setting if isinstance(setting, str) else os.path.join(
            str(self.project_dir), JAX_CACHE_DIRNAME
        )
        enable_jax_compilation_cache(directory)

    # -- donors -----------------------------------------------------------------------------

    def _build_trial_architecture(self, trial):
        """Builds a completed donor's architecture once per process, not once per trial.

        Removes: the donor candidates (up to 25 best completed trials) rebuilt and compiled
        from their hyperparameters or stored architecture for every new trial, although a
        completed trial's architecture never changes.

        Why it is safe: only COMPLETED trials are cached (a running trial can still grow); the
        warm start loads the donor's checkpoint into the model before every use, and the
        transfer only reads the donor. `load_model` (and so `get_best_models`) bypasses the
        cache, so a user always receives a model of their own. At most `MAX_CACHED_DONORS`
        models are kept, the least recently used dropped first.
        """
        cache = self.__dict__.setdefault("_lean_donor_models", collections.OrderedDict())
        if getattr(self, "_lean_bypass_donor_cache", False):
            return super()._build_trial_architecture(trial)
        if trial.status != trial_module.TrialStatus.COMPLETED:
            return super()._build_trial_architecture(trial)
        model = cache.pop(trial.trial_id, None)
        if model is None:
            model = super()._build_trial_architecture(trial)
        cache[trial.trial_id] = model  # most recently used last
        while len(cache) > MAX_CACHED_DONORS:
            cache.popitem(last=False)
        return model

    def load_model(self, trial):
        """`RepairTuner.load_model`, always with a freshly built model (no donor cache)."""
        self._lean_bypass_donor_cache = True
        try:
            return super().load_model(trial)
        finally:
            self._lean_bypass_donor_cache = False

    # -- trial end: what a finished trial leaves behind ------------------------------------

    def on_trial_begin(self, trial):
        # Per trial: the trials of a population (`repair/population.py`) overlap.
        self.__dict__.setdefault("_lean_gradients_before", {})[trial.trial_id] = (
            custom_gradient_names())
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        """KerasTuner's `on_trial_end`, then what the trial left in TensorFlow goes.

        Its custom-gradient registrations (`release_trial_gradients`: without it every trial's
        training graph stays alive) and the eager kernels of its traced functions
        (`clear_eager_kernel_cache`). Both are cheap (see docs/performance.md); the cyclic
        garbage collector is left to its own schedule (a full `gc.collect()` per trial costs
        more than a trial of a small model on a loaded machine).
        """
        try:
            super().on_trial_end(trial)
        finally:
            before = self.__dict__.get("_lean_gradients_before", {}).pop(trial.trial_id, None)
            try:
                if before is not None:
                    release_trial_gradients(before)
                if getattr(self, "_population", None) is None:
                    # Not while a population trains: its program's kernels would be made
                    # again mid-fit; its members' own models never ran a traced function.
                    clear_eager_kernel_cache()
            except Exception as error:  # TensorFlow internals moved: memory grows, search goes on
                warnings.warn(f"kt_nasrepair could not release a finished trial's TensorFlow "
                              f"state ({type(error).__name__}: {error}); memory may grow per trial")

    # -- saving -----------------------------------------------------------------------------

    def save(self):
        """Saves the oracle as KerasTuner does; writes the tuner file only when it changes.

        Removes: `<tuner_id>.json` (the tuner's own state, `{}` for KerasTuner's tuners)
        rewritten with the same content after every trial.

        Why it is safe: the file is written (atomically) the first time, whenever its content
        changes and whenever it is missing, so `overwrite=False` still finds it and reloads. The oracle is
        still saved on every call: the save KerasTuner makes after `end_trial` is the one that
        drops the finished trial from `ongoing_trials`, without which a resumed search would
        run a completed trial again.
        """
        if not self._is_worker():
            self.oracle.save()
        fname = self._get_tuner_fname()
        payload = json.dumps(self.get_state(), sort_keys=True)
        if payload == getattr(self, "_lean_tuner_payload", None) and os.path.exists(fname):
            return
        atomic_write_json(fname, self.get_state())
        self._lean_tuner_payload = payload


def _model_size(model) -> int:
    # KerasTuner's `maybe_compute_model_size` (not public): trainable parameters once built.
    if not model.built:
        return 0
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))
