"""One line of progress per finished trial, for long searches read in logs or terminals.

KerasTuner's own display prints a block per trial and, in notebooks, clears the output between
trials. `SearchProgress` adds a single self-contained line after each trial:

```
trial 7/20 | best val_accuracy 0.9612 (trial 05) | elapsed 00:03:10 | ~00:05:53 left
```

It only calls `print` on a stream (no carriage returns, no cursor control), so it reads the same
in a terminal, a notebook and a CI log, and it never touches KerasTuner's display.
"""

from __future__ import annotations

import io
import math
import sys
import time

DIRECTIONS = ("max", "min")


def format_duration(seconds) -> str:
    """Formats a number of seconds as `hh:mm:ss` (hours grow past 99 rather than wrap).

    Args:
        seconds: A non-negative number of seconds, or None.

    Returns:
        `"hh:mm:ss"`, or `"--:--:--"` when `seconds` is None or not finite.

    Example:

    ```python
    format_duration(3725.4)  # "01:02:05"
    ```
    """
    if seconds is None or not math.isfinite(seconds):
        return "--:--:--"
    total = int(round(max(float(seconds), 0.0)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def estimate_remaining(elapsed_seconds: float, done: int, total) -> float | None:
    """Estimated seconds left: the mean time per trial so far times the trials remaining.

    Args:
        elapsed_seconds: Seconds spent on the `done` trials.
        done: Trials finished in that time (failed ones included: they used budget too).
        total: Total number of trials, or None when unknown.

    Returns:
        The estimate in seconds, `0.0` when `done >= total`, or None when `total` is None or
        nothing has finished yet.
    """
    if total is None or done <= 0:
        return None
    remaining_trials = max(int(total) - int(done), 0)
    return float(elapsed_seconds) / done * remaining_trials


def _format_score(score) -> str:
    if score is None:
        return "n/a"
    return f"{float(score):.4g}"


class SearchProgress:
    """Prints one progress line per finished trial: count, best so far, elapsed, time left.

    Independent of KerasTuner objects (plain ids, scores and statuses), so a tuner calls it from
    `on_trial_end` and tests drive it with plain values. The estimate of the time left is the
    mean wall time per finished trial since `start()` times the trials remaining.

    Args:
        total: Total number of trials (`oracle.max_trials`), or None when unknown. Defaults to
            None.
        stream: A file-like object to print to. Defaults to None, meaning `sys.stdout` at the
            time of each print (so redirections made after construction are honoured).
        objective_name: Name shown before the best score, e.g. `"val_accuracy"`. Defaults to
            None, shown as `"score"`.
        direction: `"max"` or `"min"`: which scores are better. Defaults to `"max"`.
        clock: A function returning seconds (monotonic). Defaults to `time.monotonic`; tests
            pass a fake clock.

    Raises:
        ValueError: for a `total` below 1 or a `direction` other than `"max"`/`"min"`.
        TypeError: for a non-integer `total`.

    Example:

    ```python
    progress = SearchProgress(total=10, objective_name="val_accuracy")
    progress.start()
    ...  # run a trial
    progress.trial_end("00", 0.93, "COMPLETED")
    # prints: trial 1/10 | best val_accuracy 0.93 (trial 00) | elapsed 00:00:41 | ~00:06:09 left
    ```
    """

    def __init__(
        self,
        total: int | None = None,
        stream=None,
        objective_name: str | None = None,
        direction: str = "max",
        clock=None,
    ):
        if total is not None:
            if isinstance(total, bool) or not isinstance(total, int):
                raise TypeError(
                    f"`total` must be an integer >= 1 or None. Received: total={total!r}"
                )
            if total < 1:
                raise ValueError(
                    f"`total` must be an integer >= 1 or None. Received: total={total!r}"
                )
        if direction not in DIRECTIONS:
            raise ValueError(
                f"`direction` must be one of {DIRECTIONS}. Received: direction={direction!r}"
            )
        self.total = total
        self.stream = stream
        self.objective_name = objective_name or "score"
        self.direction = direction
        self.clock = clock or time.monotonic
        self._reset(done=0)

    def _reset(self, done: int):
        self.done = done
        self.finished_here = 0
        self.best_score = None
        self.best_trial_id = None
        self.durations = {}
        self._started = None
        self._last_event = None
        self._trial_started = {}

    def start(self, done: int = 0, best_score=None, best_trial_id=None) -> None:
        """Starts (or restarts) the clock; call once before the first trial.

        Args:
            done: Trials already finished before this start (a resumed search), counted in
                `n` of "trial n/N" but not in the time estimate. Defaults to 0.
            best_score: Best score among those trials, if any. Defaults to None.
            best_trial_id: Its trial id. Defaults to None.
        """
        if isinstance(done, bool) or not isinstance(done, int) or done < 0:
            raise ValueError(f"`done` must be an integer >= 0. Received: done={done!r}")
        self._reset(done=done)
        self.best_score = best_score
        self.best_trial_id = best_trial_id
        self._started = self._last_event = self.clock()

    def trial_begin(self, trial_id) -> None:
        """Marks the start of `trial_id` so `durations` holds its own wall time (optional)."""
        if self._started is None:
            self.start()
        self._trial_started[trial_id] = self.clock()

    def trial_end(self, trial_id, score, status: str = "COMPLETED") -> str:
        """Records a finished trial, prints the progress line and returns it.

        Args:
            trial_id: The trial's id.
            score: Its objective value (None for a failed trial).
            status: Its status; only `"COMPLETED"` trials with a finite score can become the
                best. Defaults to `"COMPLETED"`.

        Returns:
            The line printed.
        """
        now = self.clock()
        if self._started is None:
            self._started = self._last_event = now
        began = self._trial_started.pop(trial_id, self._last_event)
        self.durations[trial_id] = now - began
        self._last_event = now
        self.done += 1
        self.finished_here += 1
        if status == "COMPLETED" and self._is_better(score):
            self.best_score, self.best_trial_id = float(score), trial_id
        elapsed = now - self._started
        line = self.format_line(
            done=self.done,
            total=self.total,
            objective_name=self.objective_name,
            best_score=self.best_score,
            best_trial_id=self.best_trial_id,
            elapsed_seconds=elapsed,
            remaining_seconds=self._remaining(elapsed),
        )
        if status != "COMPLETED":
            line += f" | trial {trial_id} {str(status).lower()}"
        print(line, file=self.stream if self.stream is not None else sys.stdout, flush=True)
        return line

    def _remaining(self, elapsed):
        # Only trials run since start() have a measured cost; earlier ones (a resume) do not.
        if self.total is None:
            return None
        return estimate_remaining(
            elapsed, self.finished_here, self.finished_here + max(self.total - self.done, 0)
        )

    def _is_better(self, score) -> bool:
        if score is None:
            return False
        try:
            value = float(score)
        except (TypeError, ValueError):
            return False
        if not math.isfinite(value):
            return False
        if self.best_score is None:
            return True
        return value > self.best_score if self.direction == "max" else value < self.best_score

    @staticmethod
    def format_line(
        done: int,
        total,
        objective_name: str,
        best_score,
        best_trial_id,
        elapsed_seconds: float,
        remaining_seconds,
    ) -> str:
        """Formats one progress line (pure).

        Args:
            done: Trials finished, including this one.
            total: Total number of trials, or None when unknown (shown as `?`).
            objective_name: Name of the objective.
            best_score: Best score so far, or None.
            best_trial_id: Trial id of the best score, or None.
            elapsed_seconds: Wall time since the search started.
            remaining_seconds: Estimated time left, or None when unknown.

        Returns:
            E.g. `"trial 3/10 | best val_accuracy 0.912 (trial 02) | elapsed 00:01:30 |
            ~00:03:30 left"`.
        """
        total_text = "?" if total is None else str(total)
        best = f"best {objective_name} {_format_score(best_score)}"
        if best_score is not None and best_trial_id is not None:
            best += f" (trial {best_trial_id})"
        left = (
            "time left unknown"
            if remaining_seconds is None
            else f"~{format_duration(remaining_seconds)} left"
        )
        return (
            f"trial {done}/{total_text} | {best} | elapsed {format_duration(elapsed_seconds)}"
            f" | {left}"
        )


class SearchProgressMixin:
    """Adds a `SearchProgress` line after every trial of any KerasTuner tuner.

    Put it first among the bases: `class MyTuner(SearchProgressMixin, keras_tuner.RandomSearch)`,
    or use `with_progress(keras_tuner.RandomSearch)`. After `search()`, `tuner.progress.durations`
    holds each trial's wall time in seconds, which `kt_nasrepair.plot.search_history` accepts as
    `durations=`. A resumed search counts the trials already finished.

    Example:

    ```python
    tuner = with_progress(keras_tuner.RandomSearch)(hypermodel, objective="val_accuracy",
                                                    max_trials=20, directory=tmp)
    tuner.search(x, y, validation_split=0.2, epochs=3)
    ```
    """

    progress_stream = None

    def search(self, *args, **kwargs):
        # KerasTuner passes `verbose` to the oracle only on the chief; a worker's progress
        # line must follow the same `search(verbose=...)`.
        self._progress_verbose = kwargs.get("verbose", 1)
        return super().search(*args, **kwargs)

    def on_search_begin(self):
        super().on_search_begin()
        oracle = self.oracle
        objective = oracle.objective
        # A distributed worker's OracleClient has no local `trials`; count what is known.
        trials = getattr(oracle, "trials", None) or {}
        finished = [
            t for t in trials.values() if t.status in ("COMPLETED", "FAILED", "INVALID")
        ]
        best = oracle.get_best_trials(1) if finished else []
        stream = self.progress_stream
        verbose = getattr(self, "_progress_verbose", getattr(oracle, "verbose", 1))
        if stream is None and verbose in (0, "0", False):
            stream = io.StringIO()  # search(verbose=0): stay silent, keep the durations
        self.progress = SearchProgress(
            total=oracle.max_trials,
            stream=stream,
            objective_name=getattr(objective, "name", None),
            direction=getattr(objective, "direction", "max"),
        )
        self.progress.start(
            done=len(finished),
            best_score=best[0].score if best else None,
            best_trial_id=best[0].trial_id if best else None,
        )

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self.progress.trial_begin(trial.trial_id)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        # end_trial has just written the final score and status into the oracle's copy.
        trials = getattr(self.oracle, "trials", None)
        if trials is None:  # a distributed worker: the chief holds the score
            ended = self.oracle.get_trial(trial.trial_id)
        else:
            ended = trials.get(trial.trial_id, trial)
        self.progress.trial_end(ended.trial_id, ended.score, ended.status)


def with_progress(tuner_class: type) -> type:
    """Returns a subclass of `tuner_class` that prints a progress line after each trial.

    Args:
        tuner_class: A `keras_tuner.Tuner` subclass, e.g. `keras_tuner.RandomSearch`.

    Returns:
        `class (SearchProgressMixin, tuner_class)`, named `"<name>WithProgress"`.

    Raises:
        TypeError: when `tuner_class` is not a class.
    """
    if not isinstance(tuner_class, type):
        raise TypeError(
            f"`tuner_class` must be a tuner class. Received: tuner_class={tuner_class!r}"
        )
    return type(f"{tuner_class.__name__}WithProgress", (SearchProgressMixin, tuner_class), {})
