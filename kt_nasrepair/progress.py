"""One line of progress per finished trial, for long searches read in logs or terminals.

```
trial 06 (7/20) | 3 x 64 relu | warm from 05 | val_accuracy 0.9588 | best 0.9612 (trial 05) | elapsed 00:03:10 | ~00:05:53 left
```

A trial is named by its KerasTuner id as it is (`06`, the seventh of 20, padded to the width of
`max_trials`) in the count, the best and the donor. Plain `print` (no carriage returns), so it
reads the same in a terminal, a notebook and a CI log; KerasTuner's display is left alone.
"""

from __future__ import annotations

import io
import math
import sys
import time

from kt_nasrepair import report
from kt_nasrepair._validation import check, is_int
from kt_nasrepair.dense_space import describe_architecture

DIRECTIONS = ("max", "min")


def format_duration(seconds) -> str:
    """Formats seconds as `hh:mm:ss` (`"01:02:05"` for 3725.4; hours grow past 99).

    Returns `"--:--:--"` when `seconds` is None or not finite.
    """
    if seconds is None or not math.isfinite(seconds):
        return "--:--:--"
    minutes, secs = divmod(int(round(max(float(seconds), 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def estimate_remaining(elapsed_seconds: float, done: int, total) -> float | None:
    """Estimated seconds left: the mean time per trial so far times the trials remaining.

    Args:
        elapsed_seconds: Seconds spent on the `done` trials.
        done: Trials finished in that time (failed ones included: they used budget too).
        total: Total number of trials, or None when unknown.

    Returns:
        Seconds, `0.0` when `done >= total`, None when `total` is None or `done` is 0.
    """
    if total is None or done <= 0:
        return None
    return float(elapsed_seconds) / done * max(int(total) - int(done), 0)


def _format_score(score, trial_id=None) -> str:
    text = "n/a" if score is None else f"{float(score):.4g}"
    return text if score is None or trial_id is None else f"{text} (trial {trial_id})"


def describe_origin(record: dict | None) -> str | None:
    """Where a trial started from, for its progress line (pure), from its lineage record.

    Returns:
        `"warm from 03"`, `"cold"` or `"cold (not a Dense chain)"` (the record's
        `short_reason`), then `", grew to [16, 16]"` for a trial that grew in training;
        None for a `record` of None.
    """
    if record is None:
        return None
    donor = record.get("donor")
    text = "cold" if donor is None else f"warm from {donor}"
    if donor is None and record.get("short_reason"):
        text += f" ({record['short_reason']})"
    growth = record.get("growth") or []
    if growth:
        text += f", grew to {growth[-1].get('widths_after')}"
    return text


class SearchProgress:
    """Prints one progress line per finished trial: count, best so far, elapsed, time left.

    Plain ids, scores and statuses in, so a tuner calls it from `on_trial_end` and tests drive
    it with plain values. Time left: the mean wall time per trial since `start()` times the
    trials remaining.

    Args:
        total: Total number of trials (`oracle.max_trials`), or None when unknown. Defaults to
            None.
        stream: A file-like object to print to. Defaults to None: `sys.stdout` at each print.
        objective_name: Name shown before the scores. Defaults to None, shown as `"score"`.
        direction: `"max"` or `"min"`: which scores are better. Defaults to `"max"`.
        clock: A function returning seconds, for the elapsed time (and a trial's when
            `trial_end` is given none). Defaults to `time.monotonic`.

    Raises:
        ValueError: for a `total` below 1 or a `direction` other than `"max"`/`"min"`.
        TypeError: for a non-integer `total`.

    Example:

    ```python
    progress = SearchProgress(total=10, objective_name="val_accuracy")
    progress.start()
    progress.trial_end("00", 0.93, details=["2 x 64 relu", "cold"])  # prints the line
    progress.summary()  # done: 1 trial in 00:00:41 | best val_accuracy 0.93 (trial 00)
    ```
    """

    def __init__(self, total: int | None = None, stream=None, objective_name: str | None = None,
                 direction: str = "max", clock=None):
        accepted = "an integer >= 1 or None"
        check(total is None or is_int(total), "total", total, accepted, TypeError)
        check(total is None or total >= 1, "total", total, accepted)
        check(direction in DIRECTIONS, "direction", direction, f"one of {DIRECTIONS}")
        self.total = total
        self.stream = stream
        self.objective_name = objective_name or "score"
        self.direction = direction
        self.clock = clock or time.monotonic
        self.start()
        self._started = None  # set by start(), or by the first trial

    def start(self, done: int = 0, best_score=None, best_trial_id=None) -> None:
        """Starts (or restarts) the clock; call once before the first trial.

        Args:
            done: Trials finished before (a resumed search): counted in "(n/N)", not in the
                time estimate. Defaults to 0.
            best_score: Best score among those trials, if any; `best_trial_id`: its trial.
        """
        check(is_int(done) and done >= 0, "done", done, "an integer >= 0")
        self.done, self.finished_here = done, 0
        self.best_score, self.best_trial_id = best_score, best_trial_id
        self.durations = {}
        self._trial_started = {}
        self._started = self._last_event = self.clock()

    def trial_begin(self, trial_id) -> None:
        """Marks the start of `trial_id`, for a trial `trial_end` is given no time for."""
        if self._started is None:
            self.start()
        self._trial_started[trial_id] = self.clock()

    def trial_end(self, trial_id, score, status: str = "COMPLETED", details=(),
                  seconds=None) -> str:
        """Records a finished trial, prints the progress line and returns it.

        Args:
            trial_id: The trial's id.
            score: Its objective value (None for a failed trial).
            status: Its status; only a `"COMPLETED"` trial with a finite score can be the best.
            details: Short texts shown after the count (the architecture, `"cold"`, ...).
            seconds: The trial's own time (its lineage record's), kept in `durations`.
                Defaults to None: the clock's time since `trial_begin` (or the last trial).

        Returns:
            The line printed.
        """
        now = self.clock()
        if self._started is None:
            self._started = self._last_event = now
        began = self._trial_started.pop(trial_id, self._last_event)
        self.durations[trial_id] = now - began if seconds is None else float(seconds)
        self._last_event = now
        self.done += 1
        self.finished_here += 1
        if status == "COMPLETED" and self._is_better(score):
            self.best_score, self.best_trial_id = float(score), trial_id
        elapsed = now - self._started
        # Only trials run since start() have a measured cost.
        left = None if self.total is None else self.finished_here + max(self.total - self.done, 0)
        remaining = estimate_remaining(elapsed, self.finished_here, left)
        line = self.format_line(
            self.done, self.total, self.objective_name, self.best_score, self.best_trial_id,
            elapsed, remaining, score=score if status == "COMPLETED" else None,
            details=details, trial_id=trial_id,
        )
        if status != "COMPLETED":
            line += f" | {str(status).lower()}"
        self._print(line)
        return line

    def summary(self) -> str:
        """Prints and returns one closing line: trials run here, their time and the best.

        Returns:
            E.g. `"done: 10 trials in 00:04:12 | best val_accuracy 0.9612 (trial 05)"`, or, for
            a resumed search with nothing left to run, `"done: no trial left to run (10
            already finished) | best ..."`.
        """
        elapsed = 0.0 if self._started is None else self.clock() - self._started
        best = f"best {self.objective_name} {_format_score(self.best_score, self.best_trial_id)}"
        if self.finished_here == 0:
            line = f"done: no trial left to run ({self.done} already finished) | {best}"
        else:
            plural = "" if self.finished_here == 1 else "s"
            in_all = f" ({self.done} in all)" if self.done != self.finished_here else ""
            line = (f"done: {self.finished_here} trial{plural} in {format_duration(elapsed)}"
                    f"{in_all} | {best}")
        self._print(line)
        return line

    def _print(self, line):
        print(line, file=self.stream if self.stream is not None else sys.stdout, flush=True)

    def _is_better(self, score) -> bool:
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
    def format_line(done: int, total, objective_name: str, best_score, best_trial_id,
                    elapsed_seconds: float, remaining_seconds, score=None, details=(),
                    trial_id=None) -> str:
        """Formats one progress line (pure).

        Args:
            done: Trials finished, including this one.
            total: Total number of trials, or None when unknown (shown as `?`).
            objective_name: Name of the objective.
            best_score: Best score so far, or None; `best_trial_id`: its trial.
            elapsed_seconds: Wall time since the search started.
            remaining_seconds: Estimated time left, or None when unknown.
            score: This trial's score, or None (shown as `n/a`).
            details: Short texts shown after the count (architecture, origin).
            trial_id: This trial's id, shown before the count, or None.

        Returns:
            E.g. `"trial 02 (3/10) | 2 x 64 relu | cold | val_accuracy 0.9 | best 0.912
            (trial 02) | elapsed 00:01:30 | ~00:03:30 left"` (one line).
        """
        count = f"{done}/{'?' if total is None else total}"
        parts = [f"trial {count}" if trial_id is None else f"trial {trial_id} ({count})"]
        parts += [str(d) for d in details if d]
        parts += [f"{objective_name} {_format_score(score)}",
                  f"best {_format_score(best_score, best_trial_id)}",
                  f"elapsed {format_duration(elapsed_seconds)}",
                  "time left unknown" if remaining_seconds is None
                  else f"~{format_duration(remaining_seconds)} left"]
        return " | ".join(parts)


class SearchProgressMixin:
    """Adds a `SearchProgress` line after every trial of any KerasTuner tuner, and a summary.

    Put it first among the bases, or use `with_progress(keras_tuner.RandomSearch)`. As
    KerasTuner's display, the lines are printed unless `search(verbose=0)`;
    `tuner.show_progress = True` prints them even then, `False` never; `tuner.progress_stream`
    prints elsewhere. A resumed search counts the trials already finished. After `search()`,
    `tuner.progress.durations` holds each trial's seconds: its lineage record's time when the
    tuner has `trial_record(trial_id)` (a `RepairTuner`), else the progress clock's.

    Example:

    ```python
    tuner = with_progress(keras_tuner.RandomSearch)(hypermodel, objective="val_accuracy",
                                                    max_trials=20, directory=tmp)
    tuner.show_progress = True  # the lines although verbose=0 mutes everything else
    tuner.search(x, y, validation_split=0.2, epochs=3, verbose=0)
    ```
    """

    progress_stream = None
    # None: follow search(verbose=...), silent at verbose=0 as KerasTuner's display is.
    show_progress = None

    def search(self, *fit_args, **fit_kwargs):
        self._search_verbose = fit_kwargs.get("verbose", "auto")
        return super().search(*fit_args, **fit_kwargs)

    def on_search_begin(self):
        super().on_search_begin()
        oracle = self.oracle
        # A distributed worker's OracleClient has no local `trials`; count what is known.
        trials = getattr(oracle, "trials", None) or {}
        finished = [t for t in trials.values() if t.status in ("COMPLETED", "FAILED", "INVALID")]
        best = oracle.get_best_trials(1) if finished else []
        show = self.show_progress
        if show is None:
            show = getattr(self, "_search_verbose", "auto") != 0
        name, direction = report.objective(oracle)
        # Silent when not shown, but the durations are still kept.
        stream = self.progress_stream if show else io.StringIO()
        self.progress = SearchProgress(oracle.max_trials, stream, name, direction)
        self.progress.start(done=len(finished), best_score=best[0].score if best else None,
                            best_trial_id=best[0].trial_id if best else None)

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
        details, seconds = [], None
        try:  # a progress line must never fail a search
            details = self.progress_details(ended)
            trial_record = getattr(self, "trial_record", None)
            if callable(trial_record):
                seconds = report.record_seconds(trial_record(ended.trial_id))
        except Exception as error:
            details = [*details, f"(no details: {type(error).__name__})"]
        self.progress.trial_end(ended.trial_id, ended.score, ended.status, details=details,
                                seconds=seconds)

    def on_search_end(self):
        super().on_search_end()
        if getattr(self, "progress", None) is not None:
            self.progress.summary()

    def progress_details(self, trial) -> list:
        """The texts shown between the count and the score of `trial`'s progress line.

        Override to show something else. The default: the architecture
        (`describe_architecture`) and, when the tuner records lineage, where the trial started
        from (`"warm from 03"`, `"cold"`); `"continues 0003"` for a Hyperband trial that trains
        on from an earlier round.

        Args:
            trial: The finished `keras_tuner.engine.trial.Trial`.

        Returns:
            A list of short strings.
        """
        details = [describe_architecture(report.active_values(trial))]
        origin = self._progress_origin(trial.trial_id)
        parent = trial.hyperparameters.values.get(report.HYPERBAND_PARENT)
        # Hyperband's continued trial trains on from its own earlier round, not from scratch.
        if parent is not None and not str(origin or "").startswith("warm"):
            origin = f"continues {parent}"
        return details + ([origin] if origin else [])

    def _progress_origin(self, trial_id):
        """Where the trial started from, or None; `RepairTuner` reads its lineage record."""
        return None


def with_progress(tuner_class: type) -> type:
    """Returns a subclass of `tuner_class` that prints a progress line after each trial.

    Args:
        tuner_class: A `keras_tuner.Tuner` subclass, e.g. `keras_tuner.RandomSearch`.

    Returns:
        `class (SearchProgressMixin, tuner_class)`, named `"<name>WithProgress"`.

    Raises:
        TypeError: when `tuner_class` is not a class.
    """
    check(isinstance(tuner_class, type), "tuner_class", tuner_class, "a tuner class", TypeError)
    return type(f"{tuner_class.__name__}WithProgress", (SearchProgressMixin, tuner_class), {})
