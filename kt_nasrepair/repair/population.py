"""Trials trained together: K trial loops, one thread each, whose fits one program trains.

The threads take turns in a fixed order (reproducible; Keras never runs in two at once), and
each loop's `model.fit` becomes a request; docs/guides/population.md has the rest.
"""

from __future__ import annotations

import threading
import time

import keras
import keras_tuner
import numpy as np

from kt_nasrepair.repair.backend_state import clear_eager_kernel_cache
from kt_nasrepair.repair.population_fit import Member, FitRequest, Router, steps_per_epoch, fit_key
from kt_nasrepair.shape_stable.population import PopulationDenseModel
from kt_nasrepair.shape_stable.runner import dense_macs

# NOTE: on 2 CPU cores fusing pays under ~2M multiply-adds a sample (docs/performance.md).
CPU_MACS_BUDGET = 2_000_000
# NOTE: TensorFlow's eager kernel cache grows with each round's programs, and emptying it makes
# the next round instantiate its program again (0.8 s or more on 2 cores): every 8th round
# keeps memory where emptying it every round did (docs/performance.md, "Memory").
CLEAR_KERNELS_EVERY = 8
_MAIN = -1


class _Aborted(keras_tuner.errors.FatalError):
    """Raised in a trial loop when the search stops (an error or an interrupt elsewhere)."""


def auto_population_size(backend: str, max_trials=None) -> int:
    """K for `population="auto"`: 8 on TensorFlow and JAX, 1 on torch, at most a quarter of
    `max_trials` so most trials can warm-start from earlier ones (docs/performance.md)."""
    size = 8 if backend in ("tensorflow", "jax") else 1
    if max_trials:
        size = min(size, max(1, int(max_trials) // 4))
    return size


def _on_accelerator() -> bool:
    try:
        devices = keras.distribution.list_devices()
    except Exception:  # a backend without device listing
        return False
    return any(not str(d).lower().startswith("cpu") for d in devices)


def _next_power_of_two(value: int, floor: int = 1) -> int:
    return max(floor, 1 << max(int(value) - 1, 0).bit_length())


class PopulationSearch:
    """Runs a tuner's search as `size` trial loops that train their fits together.

    Args:
        tuner: A tuner with `RepairMixin` (it provides `_population_loop`).
        size: K, the number of trial loops (and the most members of one program).
        programs: Where compiled programs are kept (`{key: PopulationDenseModel}`).
        max_depth: The space's most hidden layers, when known (a `DenseHyperModel`).
        max_width: The space's widest hidden layer, when known.
    """

    def __init__(self, tuner, size, programs, max_depth=None, max_width=None):
        self.tuner, self.size, self.programs = tuner, int(size), programs
        self.max_depth, self.max_width = max_depth, max_width
        self.budget = None if _on_accelerator() else CPU_MACS_BUDGET
        self.params, self.rounds = {}, 0
        self._cv, self._turn, self._local = threading.Condition(), _MAIN, threading.local()
        self._queue, self._states, self._errors = [], ["busy"] * self.size, []
        self._aborted = False

    def run(self, fit_args, fit_kwargs) -> None:
        """Runs every trial loop to its end; raises the first error one of them raised."""
        policy = keras.config.dtype_policy()
        # NOTE: one thread name for all: KerasTuner's oracle lock is re-entrant by name.
        name = threading.current_thread().name
        threads = [threading.Thread(target=self._loop_main, daemon=True,
                                    args=(index, policy, fit_args, fit_kwargs), name=name)
                   for index in range(self.size)]
        for thread in threads:
            thread.start()
        try:
            for index in range(self.size):
                self._resume(index)
            while True:
                if self._errors:
                    raise self._errors[0]
                if self._queue:
                    self._run_round()
                    continue
                idle = [i for i, state in enumerate(self._states) if state == "idle"]
                if not idle:
                    break
                for index in idle:
                    self._resume(index)
                if not self._queue and all(s in ("idle", "done") for s in self._states):
                    time.sleep(0.2)  # the oracle waits for trials of other workers
        except BaseException:
            self._abort()
            raise
        finally:
            for thread in threads:
                thread.join(timeout=10)

    def loop_id(self, index: int) -> str:
        """The tuner id loop `index` asks the oracle with."""
        base = self.tuner.tuner_id
        return base if index == 0 else f"{base}-m{index}"

    def _loop_main(self, index, policy, fit_args, fit_kwargs):
        self._local.index = index
        keras.config.set_dtype_policy(policy)  # Keras keeps it per thread
        self._wait_turn(index)
        try:
            self.tuner._population_loop(self, self.loop_id(index), fit_args, fit_kwargs)
        except _Aborted:
            pass
        except BaseException as error:
            self._errors.append(error)
        finally:
            self._yield(index, "done")

    def in_loop(self) -> bool:
        """Whether the calling thread is one of the trial loops."""
        return getattr(self._local, "index", None) is not None

    def idle(self) -> None:
        """Called by a loop the oracle answered IDLE: it waits for the next round."""
        self._yield(self._local.index, "idle", wait=True)

    def _wait_turn(self, index):
        with self._cv:
            while self._turn != index:
                self._cv.wait()
        if self._aborted:
            raise _Aborted("the search stopped")
        self._states[index] = "busy"

    def _yield(self, index, state, wait=False):
        with self._cv:
            self._states[index] = state
            self._turn = _MAIN
            self._cv.notify_all()
        if wait:
            self._wait_turn(index)

    def _resume(self, index):
        """Lets loop `index` run until it waits again (or ends)."""
        with self._cv:
            if self._states[index] == "done":
                return
            self._turn = index
            self._cv.notify_all()
            while self._turn != _MAIN:
                self._cv.wait()

    def _abort(self):
        self._aborted = True
        for index, state in enumerate(self._states):
            if state != "done":
                self._resume(index)

    def fit(self, hypermodel, hp, model, args, kwargs, dense_hypermodel, trial_id):
        """A trial loop's `hypermodel.fit(hp, model, *args, **kwargs)`, maybe fused."""
        if dense_hypermodel:
            # DenseHyperModel.fit only runs the shape-stable runner: the population replaces it.
            return self._request(trial_id, model,
                                 lambda: hypermodel.fit(hp, model, *args, **kwargs),
                                 args, kwargs)

        def fit(*fit_args, **fit_kwargs):
            return self._request(trial_id, model,
                                 lambda: type(model).fit(model, *fit_args, **fit_kwargs),
                                 fit_args, fit_kwargs)

        object.__setattr__(model, "fit", fit)  # the user's HyperModel.fit calls model.fit
        try:
            return hypermodel.fit(hp, model, *args, **kwargs)
        finally:
            object.__delattr__(model, "fit")

    def _request(self, trial_id, model, solo, args, kwargs):
        request = FitRequest(self._local.index, trial_id, model, solo, args, dict(kwargs))
        request.kwargs.update(zip(("x", "y"), args))
        try:
            request.key, request.reason = fit_key(request, self.tuner)
        except Exception as error:  # never a reason for the trial to fail: it fits alone
            request.key, request.reason = None, f"{type(error).__name__}: {error}"
        self._queue.append(request)
        self._yield(request.loop, "waiting", wait=True)
        if request.error is not None:
            raise request.error
        return request.result

    def release(self, request):
        """Hands a finished request's result to its loop and lets the loop run."""
        self._resume(request.loop)

    def continuation_of(self, request, epoch):
        """The loop's next request when it continues `request`'s fit from `epoch`."""
        follow = next((f for f in self._queue if f.loop == request.loop), None)
        if follow is None or follow.compact is not request.compact \
                or follow.key != request.key or follow.initial_epoch != epoch \
                or follow.epochs <= epoch:
            return None
        self._queue.remove(follow)
        follow.set_mode(request.mode)
        return follow

    def _run_round(self):
        self.rounds += 1
        if self.rounds % CLEAR_KERNELS_EVERY == 0:
            # Trial ends skip this while a population trains (its kernels would be remade).
            clear_eager_kernel_cache()
        request = self._queue.pop(0)
        if request.key is None:
            return self._run_alone(request, request.reason)
        members = self._pack([request] + [
            other for other in self._queue
            if other.key == request.key and other.initial_epoch == request.initial_epoch])
        if len(members) == 1:
            return self._run_alone(request, "no other trial to train with")
        for other in members[1:]:
            self._queue.remove(other)
        self._run_population(members)

    def _run_alone(self, request, reason):
        try:
            request.result = request.solo()
        except Exception as error:
            request.error = error
        request.set_mode(f"alone: {reason}")
        self._resume(request.loop)

    def _shape(self, members):
        depth = max(len(m.spec.widths) for m in members)
        width = max(max(m.spec.widths) for m in members)
        space = (self.max_depth, self.max_width)
        if all(space) and depth <= space[0] and width <= space[1] and self._fits(members, *space):
            return space  # one program for the whole space
        return tuple(cap if cap and padded > cap >= value else padded for padded, cap, value in (
            (_next_power_of_two(depth), self.max_depth, depth),
            (_next_power_of_two(width, 16), self.max_width, width)))

    def _pack(self, members):
        """`members[0]` and, smallest first, the others that fit K and the budget with it."""
        chosen = [members[0]]
        for other in sorted(members[1:], key=lambda r: self._macs([r])):
            if len(chosen) == self.size:
                break
            if self._fits(chosen + [other]):
                chosen.append(other)
        return chosen

    def _macs(self, members, depth=None, width=None):
        if depth is None:
            depth, width = self._shape(members)
        spec = members[0].spec
        return dense_macs(int(np.prod(spec.input_shape)), [width] * depth, spec.outputs)

    def _fits(self, members, depth=None, width=None):
        return self.budget is None or self._macs(members, depth, width) * _next_power_of_two(
            len(members)) <= self.budget

    def _program(self, members):
        depth, width = self._shape(members)
        # One program for the whole search where it fits: a trace costs more than empty slots.
        whole_space = (depth, width) == (self.max_depth, self.max_width)
        slots = self.size if whole_space else _next_power_of_two(len(members))
        spec = members[0].spec
        key = (members[0].key[:2], slots, depth, width)
        needed = {m.spec.activation for m in members}
        # A program holds every activation its family has needed so far: later rounds reuse it.
        known = set(needed)
        for (base, activations), program in self.programs.items():
            if base == key:
                if needed <= set(activations):
                    return program
                known.update(activations)
        activations = tuple(sorted(known))
        population = PopulationDenseModel(
            slots, spec.input_shape, activations, spec.dropout is not None,
            spec.outputs, spec.output_activation, depth, width,
        )
        # NOTE: XLA's longer compile pays only in a program every round reuses: it made the
        # seed space's search faster and a user's bucketed programs slower on TensorFlow CPUs
        # (docs/performance.md, "XLA for the whole-space program").
        population.compile_members(members[0].compact.get_compile_config(),
                                   steps_per_epoch(members[0].kwargs), xla=whole_space)
        self.programs[(key, activations)] = population
        return population

    def _run_population(self, requests):
        try:
            population = self._program(requests)
            population.start([(r.compact, r.spec, r.rate) for r in requests])
        except Exception as error:  # never a reason for a trial to fail: each fits alone
            for request in requests:
                self._run_alone(request, f"the population could not be built: {error}")
            return
        mode = (f"population (round {self.rounds}: trials "
                f"{', '.join(str(r.trial_id) for r in requests)} in {population.members} "
                f"slots of {population.max_depth} x {population.max_width})")
        for request in requests:
            request.set_mode(mode)
        first, data = requests[0].kwargs, requests[0].shared_kwargs()
        validation = first.get("validation_data")
        if validation is not None:
            data["validation_data"] = (validation[0], population.targets(validation[1]))
        self.params = {"epochs": max(r.epochs for r in requests),
                       "steps": steps_per_epoch(first), "verbose": 0}
        members = {slot: Member(r, slot, self.params) for slot, r in enumerate(requests)}
        router = Router(self, population, members)
        start = requests[0].initial_epoch
        while members:
            epochs = max(m.request.epochs for m in members.values())
            self.params["epochs"] = epochs
            try:
                population.fit(first["x"], population.targets(first["y"]), epochs=epochs,
                               initial_epoch=start, callbacks=[router], verbose=0, **data)
            except Exception as error:
                # Nothing trained yet: each trial fits alone, as KerasTuner would run it.
                alone = router.epochs_ended == 0 and start == requests[0].initial_epoch
                for slot in list(members):
                    request = members.pop(slot).request
                    if alone:
                        self._run_alone(request, f"the population failed: {error}")
                    else:
                        request.error = error
                        self.release(request)
                return
            start = epochs
            for slot, member in list(members.items()):
                if member.request.epochs <= start:  # only when fit ended without the router
                    router.end(slot)


__all__ = ["PopulationSearch", "auto_population_size"]
