"""What a backend keeps per process between trials: JAX's compilation cache, TensorFlow's
per-trial state (custom-gradient registrations and eager kernels) and how it is released.

`RepairMixin` calls these once per trial (`benchmarks/trial_overhead.py` and
`benchmarks/memory_growth.py` measure what each saves, docs/performance.md).
"""

from __future__ import annotations

import math
import os
import sys
import threading

import keras

JAX_CACHE_DIRNAME = "jax_compilation_cache"

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


def model_size(model) -> int:
    # KerasTuner's `maybe_compute_model_size` (not public): trainable parameters once built.
    if not model.built:
        return 0
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))
