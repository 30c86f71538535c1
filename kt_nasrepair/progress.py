"""One plain progress line per finished trial, and a closing summary (docs/quickstart.md)."""

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
    """Seconds as `hh:mm:ss` (`"01:02:05"` for 3725.4), `"--:--:--"` for None or non-finite."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--:--"
    minutes, secs = divmod(int(round(max(float(seconds), 0.0))), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def estimate_remaining(elapsed_seconds: float, done: int, total) -> float | None:
    """Seconds left: the mean time of the `done` trials times those left of `total` (or None)."""
    if total is None or done <= 0:
        return None
    return float(elapsed_seconds) / done * max(int(total) - int(done), 0)


def _format_score(score, trial_id=None) -> str:
    text = "n/a" if score is None else f"{float(score):.4g}"
    return text if score is None or trial_id is None else f"{text} (trial {trial_id})"


def describe_origin(record: dict | None) -> str | None:
    """A trial's start from its record: `"warm from 03"` or `"cold (<why>)"`, `", grew to [16]"`."""
    if record is None:
        return None
    donor = record.get("donor")
    text = "cold" if donor is None else f"warm from {donor}"
    if donor is None and record.get("short_reason"):
        text += f" ({record['short_reason']})"
    growth = record.get("growth") or []
    return text + (f", grew to {growth[-1].get('widths_after')}" if growth else "")


class SearchProgress:
    """Prints one progress line per finished trial: count, best so far, elapsed, time left.

    Args:
        total: Total number of trials (`oracle.max_trials`), or None (default) when unknown.
        stream: A file-like object to print to. Defaults to `sys.stdout` at each print.
        objective_name: Name shown before the scores. Defaults to `"score"`.
        direction: `"max"` (default) or `"min"`: which scores are better.
        clock: A function returning seconds. Defaults to `time.monotonic`.
    """

    def __init__(self, total: int | None = None, stream=None, objective_name: str | None = None,
                 direction: str = "max", clock=None):
        accepted = "an integer >= 1 or None"
        check(total is None or is_int(total), "total", total, accepted, TypeError)
        check(total is None or total >= 1, "total", total, accepted)
        check(direction in DIRECTIONS, "direction", direction, f"one of {DIRECTIONS}")
        self.total, self.stream, self.direction = total, stream, direction
        self.objective_name = objective_name or "score"
        self.clock = clock or time.monotonic
        self.start()
        self._started = None  # set by start(), or by the first trial

    def start(self, done: int = 0, best_score=None, best_trial_id=None) -> None:
        """Starts (or restarts) the clock; call once before the first trial.

        Args:
            done: Trials finished before (a resumed search): counted, not timed. Defaults to 0.
            best_score: Best score among those trials, if any.
            best_trial_id: The trial of `best_score`.
        """
        check(is_int(done) and done >= 0, "done", done, "an integer >= 0")
        self.done, self.finished_here = done, 0
        self.best_score, self.best_trial_id = best_score, best_trial_id
        self.durations, self._trial_started = {}, {}
        self._started = self._last_event = self.clock()

    def trial_begin(self, trial_id) -> None:
        """Marks the start of `trial_id`, for a trial `trial_end` is given no time for."""
        if self._started is None:
            self.start()
        self._trial_started[trial_id] = self.clock()

    def trial_end(self, trial_id, score, status: str = "COMPLETED", details=(),
                  seconds=None) -> str:
        """Records a finished trial, prints its progress line and returns it.

        Args:
            trial_id: The trial's id.
            score: Its objective value (None for a failed trial).
            status: Its status; only a `"COMPLETED"` trial with a finite score can be the best.
            details: Short texts shown after the count (the architecture, `"cold"`, ...).
            seconds: Its own time, kept in `durations`. Defaults to the clock's since it began.
        """
        now = self.clock()
        if self._started is None:
            self._started = self._last_event = now
        began = self._trial_started.pop(trial_id, self._last_event)
        self.durations[trial_id] = now - began if seconds is None else float(seconds)
        self._last_event = now
        self.done += 1
        self.finished_here += 1
        completed = status == "COMPLETED"
        if completed and self._is_better(score):
            self.best_score, self.best_trial_id = float(score), trial_id
        elapsed = now - self._started
        # Only trials run since start() have a measured cost.
        left = None if self.total is None else self.finished_here + max(self.total - self.done, 0)
        line = self.format_line(
            self.done, self.total, self.objective_name, self.best_score, self.best_trial_id,
            elapsed, estimate_remaining(elapsed, self.finished_here, left),
            score=score if completed else None, details=details, trial_id=trial_id,
        ) + ("" if completed else f" | {str(status).lower()}")
        self._print(line)
        return line

    def summary(self) -> str:
        """Prints and returns the closing line, e.g. `"done: 10 trials in 00:04:12 | best ..."`."""
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
        if not math.isfinite(value) or self.best_score is None:
            return math.isfinite(value)
        return value > self.best_score if self.direction == "max" else value < self.best_score

    @staticmethod
    def format_line(done: int, total, objective_name: str, best_score, best_trial_id,
                    elapsed_seconds: float, remaining_seconds, score=None, details=(),
                    trial_id=None) -> str:
        """Formats one progress line (pure); a `total`, score or time of None shows as unknown."""
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
    """Adds a `SearchProgress` line after every trial of a KerasTuner tuner (first base).

    Silent at `search(verbose=0)` unless `tuner.show_progress = True` (`False`: never);
    `tuner.progress_stream` prints elsewhere; `tuner.progress.durations` keeps each trial's
    seconds (its lineage record's where the tuner has `trial_record`).
    """

    progress_stream = None
    show_progress = None  # None: follow search(verbose=...)

    def search(self, *fit_args, **fit_kwargs):
        self._search_verbose = fit_kwargs.get("verbose", "auto")
        return super().search(*fit_args, **fit_kwargs)

    def on_search_begin(self):
        super().on_search_begin()
        oracle = self.oracle
        # A distributed worker's OracleClient has no local `trials`; count what is known.
        trials = getattr(oracle, "trials", None) or {}
        finished = [t for t in trials.values() if t.status in ("COMPLETED", "FAILED", "INVALID")]
        best = (oracle.get_best_trials(1) if finished else []) or [None]
        show = self.show_progress
        show = getattr(self, "_search_verbose", "auto") != 0 if show is None else show
        # Silent when not shown, but the durations are still kept.
        self.progress = SearchProgress(oracle.max_trials,
                                       self.progress_stream if show else io.StringIO(),
                                       *report.objective(oracle))
        self.progress.start(done=len(finished), best_score=getattr(best[0], "score", None),
                            best_trial_id=getattr(best[0], "trial_id", None))

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self.progress.trial_begin(trial.trial_id)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        # end_trial has just written the final score and status into the oracle's copy.
        trials = getattr(self.oracle, "trials", None)  # None on a distributed worker: ask the chief
        ended = (self.oracle.get_trial(trial.trial_id) if trials is None
                 else trials.get(trial.trial_id, trial))
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
        """The texts between the count and the score: architecture, origin (override freely)."""
        origin = self._progress_origin(trial.trial_id)
        parent = trial.hyperparameters.values.get(report.HYPERBAND_PARENT)
        # Hyperband's continued trial trains on from its own earlier round, not from scratch.
        if parent is not None and not str(origin or "").startswith("warm"):
            origin = f"continues {parent}"
        return [describe_architecture(report.active_values(trial))] + ([origin] if origin else [])

    def _progress_origin(self, trial_id):
        """Where the trial started from, or None; `RepairTuner` reads its lineage record."""
        return None


def with_progress(tuner_class: type) -> type:
    """`class <name>WithProgress(SearchProgressMixin, tuner_class)`, e.g. for `RandomSearch`."""
    check(isinstance(tuner_class, type), "tuner_class", tuner_class, "a tuner class", TypeError)
    return type(f"{tuner_class.__name__}WithProgress", (SearchProgressMixin, tuner_class), {})
