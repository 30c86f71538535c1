"""One fused fit of a population: which fits can share it (`fit_key`), and each member's
callbacks (`Router` hands them their own logs, `m3_loss` -> `loss`, and freezes finished ones).
"""

from __future__ import annotations

import math

import keras
import keras_tuner

from kt_nasrepair.shape_stable import dense_spec
from kt_nasrepair.shape_stable.population import coupling_setting, member_name
from kt_nasrepair.shape_stable.runner import compile_key, report_fit_mode

# Fit arguments a population can share; any other makes a trial fit alone.
_SHARED_FIT_ARGUMENTS = {"x", "y", "batch_size", "epochs", "initial_epoch", "callbacks",
                         "verbose", "validation_data", "validation_split", "shuffle",
                         "validation_batch_size", "validation_freq"}
# The shared arguments each member passes on its own (the rest must be equal).
_PER_MEMBER = ("x", "y", "validation_data", "callbacks", "epochs", "initial_epoch", "verbose")
_BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin",
                "on_batch_end", "on_test_batch_begin", "on_test_batch_end")


class FitRequest:
    """One trial's `model.fit(*args, **kwargs)`, waiting for its turn."""

    def __init__(self, loop, trial_id, compact, solo, args, kwargs):
        self.loop, self.trial_id, self.compact, self.solo = loop, trial_id, compact, solo
        self.args, self.kwargs = args, kwargs
        self.key, self.reason = None, ""  # what members of one program share; None: alone
        self.spec, self.rate = None, 1.0
        self.result = self.error = self.mode = None

    def set_mode(self, mode: str) -> None:
        """Records how the fit runs, and tells the trial's callbacks (its `EpochLog`)."""
        self.mode = mode
        report_fit_mode(self.kwargs.get("callbacks"), mode)

    def shared_kwargs(self) -> dict:
        """The fit arguments the whole population trains with (not each member's own)."""
        return {k: v for k, v in self.kwargs.items() if k not in _PER_MEMBER}

    @property
    def epochs(self) -> int:
        return int(self.kwargs.get("epochs", 1))

    @property
    def initial_epoch(self) -> int:
        return int(self.kwargs.get("initial_epoch", 0))


def fit_key(request, tuner):
    """`(key, "")`: what `request` shares with a program's other members (setting its `spec`
    and `rate`), or `(None, why it fits alone)`."""
    model, kwargs = request.compact, request.kwargs
    extra = sorted(set(kwargs) - _SHARED_FIT_ARGUMENTS)
    if extra:
        return None, f"fit argument {extra[0]!r} is not shared by a population"
    x, y = kwargs.get("x"), kwargs.get("y")
    if getattr(x, "shape", None) is None or getattr(y, "shape", None) is None:
        return None, "the data is not arrays"
    validation = kwargs.get("validation_data")
    if validation is not None and (not isinstance(validation, (tuple, list))
                                   or len(validation) != 2):
        return None, "validation_data is not an (x, y) pair"
    for callback in kwargs.get("callbacks") or []:
        if getattr(callback, "needs_own_model", False):
            return None, f"callback {type(callback).__name__} works on the model's own layers"
        if _has_batch_hooks(callback, tuner):
            return None, f"callback {type(callback).__name__} acts on every batch"
    if getattr(model, "_distribute_strategy", None) is not None:
        return None, "the model was built under a tf.distribute strategy"
    spec, reason = dense_spec(model)
    if spec is None:
        return None, reason
    optimizer = getattr(model, "optimizer", None)
    coupling = optimizer is not None and coupling_setting(optimizer)
    if coupling:
        return None, f"the optimizer's {coupling} couples the members"
    compiled, reason = compile_key(model)
    if compiled is None:
        return None, reason
    key, float_rate = compiled
    request.spec = spec
    request.rate = _float_rate(model) if float_rate else 1.0
    data = tuple(id(v) for v in (x, y, *(validation or ())))
    settings = tuple(repr(kwargs.get(k)) for k in sorted(_SHARED_FIT_ARGUMENTS)
                     if k not in _PER_MEMBER)
    return (spec.population_family, key, data, settings), ""


class Member:
    """A request's place in a running population: its callbacks see its own logs."""

    def __init__(self, request, slot, params):
        self.request, self.slot = request, slot
        self.callbacks = keras.callbacks.CallbackList(
            list(request.kwargs.get("callbacks") or []), add_history=True,
            add_progbar=False, model=request.compact, **params,
        )
        request.compact.stop_training = False
        self.callbacks.on_train_begin()

    def logs(self, logs):
        """The population's logs as this member alone would log them."""
        own, prefix = {}, member_name(self.slot) + "_"
        for key, value in logs.items():
            if key.startswith(prefix):
                own[key[len(prefix):]] = value
            elif key.startswith("val_" + prefix):
                own["val_" + key[len(prefix) + 4:]] = value
        return own

    def finish(self):
        self.callbacks.on_train_end()
        self.request.result = self.callbacks._history


class Router(keras.callbacks.Callback):
    """The population's one callback: hands each member its logs, freezes finished ones."""

    def __init__(self, search, population, members):
        super().__init__()
        self.search, self.population = search, population
        self.members = members  # slot -> Member, only the active ones
        self.epochs_ended = 0

    def on_epoch_begin(self, epoch, logs=None):
        for member in list(self.members.values()):
            member.callbacks.on_epoch_begin(epoch)
            self._sync_rate(member)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.epochs_ended += 1
        self.population.unload(list(self.members))
        for slot, member in list(self.members.items()):
            own = member.logs(logs)
            member.callbacks.on_epoch_end(epoch, own)
            self._sync_rate(member)
            loss = own.get("loss")
            if member.request.compact.stop_training or epoch + 1 >= member.request.epochs \
                    or (loss is not None and not math.isfinite(float(loss))):
                self.end(slot)
                follow = self.search.continuation_of(member.request, epoch + 1)
                if follow is not None:
                    self.population.set_rate(slot, follow.rate)
                    self.members[slot] = Member(follow, slot, self.search.params)
        if not self.members:
            self.model.stop_training = True

    def end(self, slot):
        """Freezes member `slot`, ends its callbacks' fit and lets its trial loop run."""
        self.population.freeze(slot)
        member = self.members.pop(slot)
        member.finish()
        self.search.release(member.request)

    def _sync_rate(self, member):
        # A callback of the trial's (ReduceLROnPlateau, a scheduler) set its own rate.
        rate = _float_rate(member.request.compact)
        if rate is not None and rate != member.request.rate:
            member.request.rate = rate
            self.population.set_rate(member.slot, rate)


def _float_rate(model):
    learning_rate = getattr(getattr(model, "optimizer", None), "learning_rate", None)
    try:
        return float(keras.ops.convert_to_numpy(learning_rate))
    except Exception:  # a schedule
        return None


def steps_per_epoch(kwargs):
    x = kwargs.get("x")
    samples = int(x.shape[0]) * (1.0 - float(kwargs.get("validation_split") or 0.0))
    return math.ceil(samples / int(kwargs.get("batch_size") or 32))


def _has_batch_hooks(callback, tuner) -> bool:
    """Whether `callback` does anything per batch (a population only forwards epochs)."""
    from keras_tuner.src.engine.tuner_utils import TunerCallback

    if isinstance(callback, TunerCallback):
        return any(getattr(type(tuner), name) is not getattr(keras_tuner.Tuner, name)
                   for name in ("on_batch_begin", "on_batch_end"))
    base = keras.callbacks.Callback
    return any(getattr(type(callback), name, None) is not getattr(base, name)
               for name in _BATCH_HOOKS)
