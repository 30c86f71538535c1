"""What a backend keeps per process between trials, and how it is released.

`RepairMixin` calls these once per trial; docs/performance.md measures what each saves.
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
    """Turns on JAX's persistent compilation cache in `directory` unless one is configured.

    Returns:
        The cache directory in use, or None when the backend is not JAX.
    """
    global _jax_cache_dir
    if keras.backend.backend() != "jax":
        return None
    with _jax_cache_lock:
        if _jax_cache_dir is None:
            import jax  # only on the JAX backend, never at module import

            _jax_cache_dir = jax.config.jax_compilation_cache_dir
            if not _jax_cache_dir:
                os.makedirs(directory, exist_ok=True)
                jax.config.update("jax_compilation_cache_dir", directory)
                # NOTE: JAX caches only >= 1 s compiles by default; a small MLP's step is faster.
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
                jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
                _jax_cache_dir = directory
        return _jax_cache_dir


# `tf.custom_gradient` registers one gradient function per traced call under this prefix.
_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _tf_gradient_registry() -> dict | None:
    """TensorFlow's global gradient registry (read from `sys.modules`), or None."""
    if keras.backend.backend() != "tensorflow":
        return None
    tf_ops = sys.modules.get("tensorflow.python.framework.ops")
    registry = getattr(getattr(tf_ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


def custom_gradient_names() -> frozenset:
    """The custom gradients registered in TensorFlow so far (empty on other backends)."""
    registry = _tf_gradient_registry() or {}
    return frozenset(k for k in list(registry) if k.startswith(_CUSTOM_GRADIENT_PREFIX))


def release_trial_gradients(before: frozenset) -> int:
    """Drops the custom gradients registered since `before`; returns how many (0 off TF).

    Each traced TF step registers one under a fresh name and never removes it, keeping the
    trial's graph alive (6-7 MB a trial, docs/performance.md). Safe: an ended trial is never
    differentiated again, and a function still in use runs without the registry.

    Args:
        before: `custom_gradient_names()` taken when the trial began.
    """
    registry = _tf_gradient_registry()
    if registry is None:
        return 0
    added = custom_gradient_names() - before
    for name in added:
        registry.pop(name, None)
    return len(added)


def clear_eager_kernel_cache() -> bool:
    """Empties TensorFlow's eager kernel cache, as `clear_session` does; False off TF.

    Each traced function a trial called stays cached, 1-3 MB a trial (docs/performance.md).
    """
    context = sys.modules.get("tensorflow.python.eager.context")
    if keras.backend.backend() != "tensorflow" or context is None:
        return False
    context.context().clear_kernel_cache()
    return True


def model_size(model) -> int:
    # KerasTuner's `maybe_compute_model_size` (not public): trainable parameters once built.
    return int(sum(math.prod(w.shape) for w in model.trainable_weights)) if model.built else 0
