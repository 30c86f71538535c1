"""Search efficiency: RepairTuner against KerasTuner's own tuners, same data, space and budget.

Every method gets the same budget of trials x epochs (Hyperband: the same total number of
epochs) on the same data split, for several seeds. Per trial we record wall time (build, warm
start and training), epochs trained, validation accuracy, test accuracy (at the epoch
KerasTuner checkpoints) and the donor. Outputs, in `--out`:

- `search_efficiency.json`: every trial of every run;
- `search_efficiency_<space>.png`: best-so-far validation accuracy against cumulative training
  time, median across seeds with a min-max band;
- `search_efficiency.md`: final best test accuracy per method (median across seeds) and
  time-to-target as a ratio to KerasTuner's RandomSearch (target: the best validation
  accuracy RandomSearch reaches in that seed's run).

    python benchmarks/search_efficiency.py --quick     # 3 seeds x 5 trials x 2 epochs, seed space: 4-5 min on 2 CPU cores
    python benchmarks/search_efficiency.py             # the full run (see docs/performance.md)
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

import kt_nasrepair  # noqa: E402
from kt_nasrepair import DenseHyperModel  # noqa: E402
from kt_nasrepair.shape_stable import compact_of  # noqa: E402
from kt_nasrepair._io import atomic_write_json, read_json  # noqa: E402
from kt_nasrepair.datasets import load_mnist  # noqa: E402

METHODS = (
    "repair_entropy",
    "repair_entropy_full",
    "repair_entropy_single",
    "repair_quasi_random",
    "repair_hyperband",
    "entropy",
    "kt_random",
    "kt_bayesian",
    "kt_hyperband",
)
# NOTE: the RepairTuner settings every repair_* method runs with (stated in the report);
# `--warm-epochs` overrides warm_epochs.
REPAIR_DEFAULTS = {"warm_epochs": "auto"}
BASELINE = "kt_random"
DATA_FILE = "data.npz"  # the split, written once by the parent for every run's process
QUICK = {"spaces": ["seed"], "seeds": 3, "max_trials": 5, "epochs": 2}


def make_space(name, input_shape, method=""):
    """The space; KerasTuner's own tuners (`kt_*`) compile every trial, as KerasTuner does.

    Our tuners run the hypermodel as shipped (`shape_stable="auto"`, docs/guides/
    shape_stable.md); the `kt_*` baselines get `shape_stable=False`, so they measure
    KerasTuner with a plain per-trial model.
    """
    mode = False if method.startswith("kt_") else "auto"
    if name == "seed":
        return DenseHyperModel.mnist_seed(input_shape=input_shape, shape_stable=mode)
    return DenseHyperModel(input_shape=input_shape, num_classes=10, shape_stable=mode)


class BudgetedHyperbandOracle(keras_tuner.oracles.HyperbandOracle):
    """Hyperband that stops once the epochs of its created trials reach `epoch_budget`."""

    def __init__(self, epoch_budget, **kwargs):
        super().__init__(**kwargs)
        self.epoch_budget = epoch_budget

    def _planned_epochs(self):
        total = 0
        for trial in self.trials.values():
            values = trial.hyperparameters.values
            total += values.get("tuner/epochs", 0) - values.get("tuner/initial_epoch", 0)
        return total

    def populate_space(self, trial_id):
        if self._planned_epochs() >= self.epoch_budget:
            return {"status": keras_tuner.engine.trial.TrialStatus.STOPPED, "values": None}
        return super().populate_space(trial_id)


class BudgetedHyperband(keras_tuner.Hyperband):
    """KerasTuner's Hyperband tuner on a `BudgetedHyperbandOracle`."""

    def __init__(self, hypermodel, *, epoch_budget, objective, max_epochs, seed, **kwargs):
        oracle = BudgetedHyperbandOracle(
            epoch_budget=epoch_budget,
            objective=objective,
            max_epochs=max_epochs,
            factor=3,
            hyperband_iterations=100,
            seed=seed,
        )
        # Skip Hyperband.__init__ (it only builds the unbudgeted oracle).
        keras_tuner.Tuner.__init__(self, oracle=oracle, hypermodel=hypermodel, **kwargs)


def test_accuracy(model, test_data):
    """Accuracy of `model` on one-hot `test_data`.

    A numpy forward pass (`kt_nasrepair.morph.forward`) for dense chains: `evaluate` would
    trace a new function for every trial's model, which cost more than a small trial's
    training in `--quick` runs. Other models fall back to `evaluate`.
    """
    x_test, y_test = test_data
    try:
        outputs = kt_nasrepair.morph.forward(model, x_test)
    except kt_nasrepair.morph.NotMorphableError:
        return float(model.evaluate(x_test, y_test, verbose=0)[1])
    return float(np.mean(np.argmax(outputs, axis=1) == np.argmax(y_test, axis=1)))


class BestEpochTestScore(keras.callbacks.Callback):
    """Test accuracy at the epoch KerasTuner checkpoints (best `val_accuracy`, first on ties).

    Scoring the live model at that epoch gives what `tuner.load_model(trial)` would, without
    rebuilding the model after the trial: KerasTuner's `load_model` clears the session and
    runs `gc.collect()`, which cost about 0.7 s a trial here.
    """

    def __init__(self, test_data, clock=None):
        super().__init__()
        self.test_data = test_data
        self.clock = clock
        self.best = -math.inf
        self.test_accuracy = None
        self.seconds = 0.0  # spent scoring, taken out of the trial's measured time

    def __deepcopy__(self, memo):
        # KerasTuner deep-copies the callbacks of each execution; the score must reach us.
        return self

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_accuracy")
        if value is not None and value > self.best:
            start = time.perf_counter()
            self.best = value
            # The trial's own model, also when it trains in the shape-stable padded network.
            self.test_accuracy = test_accuracy(compact_of(self.model), self.test_data)
            self.seconds += time.perf_counter() - start
            if self.clock is not None:
                self.clock["scoring"] += time.perf_counter() - start


def instrumented(tuner_class):
    """A subclass of `tuner_class` that times each trial and scores its model on test data."""

    class Instrumented(tuner_class):
        def __init__(self, *args, test_data=None, **kwargs):
            super().__init__(*args, **kwargs)
            self.test_data = test_data
            self.records = []
            # The search's wall clock, less the time spent scoring on test data: trials of a
            # population overlap, so their own durations do not add up to the search's.
            self.clock = {"start": None, "scoring": 0.0}

        def search(self, *args, **kwargs):
            self.clock["start"] = time.perf_counter()
            return super().search(*args, **kwargs)

        def run_trial(self, trial, *args, **kwargs):
            score = BestEpochTestScore(self.test_data, self.clock)
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), score]
            start = time.perf_counter()
            results = super().run_trial(trial, *args, **kwargs)
            seconds = time.perf_counter() - start - score.seconds
            histories = results if isinstance(results, list) else [results]
            epochs = sum(len(getattr(h, "history", {}).get("loss", [])) for h in histories)
            self.records.append({"trial_id": trial.trial_id, "seconds": seconds,
                                 "epochs": epochs, "test_accuracy": score.test_accuracy})
            return results

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            record = next((r for r in self.records if r["trial_id"] == trial.trial_id), None)
            if record is None:
                return
            record["clock"] = (time.perf_counter() - self.clock["start"]
                               - self.clock["scoring"])
            trial = self.oracle.get_trial(trial.trial_id)
            record["status"] = trial.status
            record["val_accuracy"] = trial.score
            if trial.status != "COMPLETED":
                record["test_accuracy"] = None
            record["values"] = {
                k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")
            }

    Instrumented.__name__ = f"Instrumented{tuner_class.__name__}"
    return Instrumented


def make_tuner(method, hypermodel, seed, max_trials, epochs, directory, test_data):
    common = dict(
        objective="val_accuracy",
        directory=directory,
        project_name=f"{method}_{seed}",
        overwrite=True,
        test_data=test_data,
    )
    if method == "repair_hyperband":
        return instrumented(kt_nasrepair.with_repair(BudgetedHyperband))(
            hypermodel, epoch_budget=max_trials * epochs, max_epochs=epochs, seed=seed,
            **REPAIR_DEFAULTS, **common
        )
    if method.startswith("repair_"):
        # "_full": the same tuner with warm_epochs=None (every warm trial trains in full).
        # "_single": population=1 (one trial at a time, as before population training).
        settings = {**REPAIR_DEFAULTS, "warm_epochs": None} if method.endswith("_full") else (
            REPAIR_DEFAULTS)
        if method.endswith("_single"):
            settings = {**settings, "population": 1}
        return instrumented(kt_nasrepair.RepairTuner)(
            hypermodel, max_trials=max_trials, seed=seed,
            strategy=method[len("repair_"):].removesuffix("_full").removesuffix("_single"),
            **settings, **common
        )
    if method == "entropy":
        return instrumented(kt_nasrepair.EntropySearch)(
            hypermodel, max_trials=max_trials, seed=seed, **common
        )
    if method == "kt_random":
        return instrumented(keras_tuner.RandomSearch)(
            hypermodel, max_trials=max_trials, seed=seed, **common
        )
    if method == "kt_bayesian":
        return instrumented(keras_tuner.BayesianOptimization)(
            hypermodel, max_trials=max_trials, seed=seed, **common
        )
    if method == "kt_hyperband":
        return instrumented(BudgetedHyperband)(
            hypermodel, epoch_budget=max_trials * epochs, max_epochs=epochs, seed=seed, **common
        )
    raise ValueError(f"`method` must be one of {METHODS}. Received: method={method!r}")


def run_one(method, space, seed, args, data, directory):
    (x_train, y_train), (x_val, y_val), test_data = data
    keras.utils.set_random_seed(seed)
    hypermodel = make_space(space, x_train.shape[1:], method)
    tuner = make_tuner(method, hypermodel, seed, args.max_trials, args.epochs, directory,
                       test_data)
    start = time.perf_counter()
    tuner.search(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                 validation_data=(x_val, y_val), verbose=0)
    total = time.perf_counter() - start
    lineage = tuner.lineage() if hasattr(tuner, "lineage") else {}
    for record in tuner.records:
        record["donor"] = lineage.get(record["trial_id"], {}).get("donor")
    return {"method": method, "space": space, "seed": seed, "search_seconds": total,
            "scoring_seconds": tuner.clock["scoring"], "trials": tuner.records}


def run_isolated(method, space, seed, args, directory):
    """`run_one` in a fresh Python process.

    NOTE: in one long process, Keras/TensorFlow state piles up even with `clear_session`: the
    process grew to 3 GB and a trial took 60% longer after ten runs than in the first, which
    favours whichever method runs first. A process per run keeps every run on equal terms.
    """
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    try:
        command = [sys.executable, os.path.abspath(__file__), *args.argv, "--one",
                   method, space, str(seed), directory, out]
        subprocess.run(command, check=True)
        return read_json(out)
    finally:
        os.remove(out)


def cache_data(dataset, directory):
    """Loads `dataset` once and stores its split in `directory`, for every run's process."""
    (x, y), (x_test, y_test) = load_mnist(dataset)
    cut = int(0.8 * len(x))
    path = os.path.join(directory, DATA_FILE)
    np.savez(path, x_train=x[:cut], y_train=y[:cut], x_val=x[cut:], y_val=y[cut:],
             x_test=x_test, y_test=y_test)
    return path


def _run_one_and_save(args, one):
    method, space, seed, directory, out = one
    # Parsing the dataset again in each of the runs' processes cost about a second each.
    with np.load(os.path.join(directory, DATA_FILE)) as d:
        data = ((d["x_train"], d["y_train"]), (d["x_val"], d["y_val"]),
                (d["x_test"], d["y_test"]))
    atomic_write_json(out, run_one(method, space, int(seed), args, data, directory))


def best_so_far(trials):
    """Time, best validation accuracy so far and its test accuracy, per trial.

    The time is the search's clock when the trial ended (`clock`, test scoring left out),
    else, in runs recorded before the clock, the trials' cumulative durations.
    """
    if trials and all("clock" in t for t in trials):
        trials = sorted(trials, key=lambda t: t["clock"])
    cumulative, best_val, best_test, rows = 0.0, -math.inf, None, []
    for trial in trials:
        cumulative = trial["clock"] if "clock" in trial else cumulative + trial["seconds"]
        score = trial.get("val_accuracy")
        if trial.get("status") == "COMPLETED" and score is not None and score > best_val:
            best_val, best_test = score, trial.get("test_accuracy")
        rows.append((cumulative, best_val, best_test))
    return rows


def time_to_target(trials, target):
    for cumulative, best_val, _ in best_so_far(trials):
        if best_val >= target:
            return cumulative
    return math.inf


FRACTIONS = (0.25, 0.5, 1.0)


def best_at(trials, seconds):
    """Best validation accuracy so far, and its test accuracy, after `seconds` of search."""
    best_val, best_test = -math.inf, None
    for cumulative, value, test in best_so_far(trials):
        if cumulative > seconds:
            break
        best_val, best_test = value, test
    return best_val, best_test


def warm_share(trials, skip=5):
    """Share of trials with a donor, among those after the first `skip`."""
    later = trials[skip:]
    return sum(t.get("donor") is not None for t in later) / len(later) if later else float("nan")


def summarise(runs, methods, spaces):
    """Per method: medians over seeds against the same seed's KerasTuner RandomSearch run.

    - `ratio`: time to reach RandomSearch's final best validation accuracy, over
      RandomSearch's own time to reach it (median of the per-seed ratios; `pooled`: the
      sum over seeds of the times over the sum of RandomSearch's; inf when never reached);
    - `at_<f>`: best test accuracy so far after a share `f` of RandomSearch's total time;
    - `test_accuracy`: final best test accuracy; `epochs`: epochs trained; `warm`: share of
      trials after the first five that were warm-started.
    """
    table = {}
    for space in spaces:
        baseline = {r["seed"]: r for r in runs if r["space"] == space and r["method"] == BASELINE}
        for method in methods:
            mine = [r for r in runs if r["space"] == space and r["method"] == method]
            finals, ratios, epochs, warm, times, base_times = [], [], [], [], [], []
            searches, search_ratios = [], []
            at = {f: [] for f in FRACTIONS}
            for run in mine:
                rows = best_so_far(run["trials"])
                finals.append(rows[-1][2] if rows and rows[-1][2] is not None else float("nan"))
                epochs.append(sum(t["epochs"] for t in run["trials"]))
                warm.append(warm_share(run["trials"]))
                searches.append(_search_seconds(run))
                base = baseline.get(run["seed"])
                if not base:
                    continue
                search_ratios.append(_search_seconds(run) / _search_seconds(base))
                base_rows = best_so_far(base["trials"])
                target = base_rows[-1][1]
                mine_time = time_to_target(run["trials"], target)
                base_time = time_to_target(base["trials"], target)
                ratios.append(mine_time / base_time)
                times.append(mine_time)
                base_times.append(base_time)
                for f in FRACTIONS:
                    test = best_at(run["trials"], f * base_rows[-1][0])[1]
                    at[f].append(float("nan") if test is None else test)
            row = {
                "test_accuracy": _nanmedian(finals),
                "ratio": float(np.median(ratios)) if ratios else float("nan"),
                "ratios": ratios,
                "pooled": (sum(times) / sum(base_times)) if base_times else float("nan"),
                "epochs": _nanmedian(epochs),
                "warm": _nanmedian(warm),
                "seeds": len(mine),
                "search_seconds": _nanmedian(searches),
                "search_ratio": _nanmedian(search_ratios),
            }
            row.update({f"at_{f:g}": _nanmedian(at[f]) for f in FRACTIONS})
            table[(space, method)] = row
    return table


def _search_seconds(run):
    """The whole search's wall time, test scoring left out."""
    return run["search_seconds"] - run.get("scoring_seconds", 0.0)


def _nanmedian(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.median(values)) if values else float("nan")


def _ratio(value):
    return "not reached" if math.isinf(value) else f"{value:.2f}"


def markdown(table, args):
    shares = " / ".join(f"{int(f * 100)}%" for f in FRACTIONS)
    lines = [
        f"Command: `python benchmarks/search_efficiency.py {' '.join(args.argv)}`".rstrip(),
        "",
        f"Settings: {args.dataset}, {args.max_trials} trials x {args.epochs} epochs, batch "
        f"{args.batch_size}, {args.seeds} seeds; repair_* methods run with "
        f"{REPAIR_DEFAULTS} (`_full`: warm_epochs=None); RepairTuner's strategy is in the "
        "method name.",
        "",
        "| space | method | seeds | epochs trained (median) | best test accuracy (median) | "
        "time to RandomSearch's best val accuracy, ratio (median) | ratio pooled over seeds | "
        "ratios per seed | best test accuracy at " + shares + " of RandomSearch's time | "
        "warm trials after the first five | whole search, s (median) | whole search, ratio "
        "to RandomSearch's (median) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (space, method), row in table.items():
        ratios = ", ".join(_ratio(r) for r in row["ratios"])
        at = " / ".join(f"{row[f'at_{f:g}']:.3f}" for f in FRACTIONS)
        warm = "n/a" if math.isnan(row["warm"]) else f"{row['warm']:.0%}"
        lines.append(
            f"| {space} | {method} | {row['seeds']} | {row['epochs']:.0f} | "
            f"{row['test_accuracy']:.4f} | {_ratio(row['ratio'])} | {_ratio(row['pooled'])} | "
            f"{ratios} | {at} | {warm} | {row['search_seconds']:.1f} | "
            f"{row['search_ratio']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def plot(runs, methods, space, path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for method in methods:
        curves = [best_so_far(r["trials"]) for r in runs
                  if r["space"] == space and r["method"] == method]
        curves = [c for c in curves if c]
        if not curves:
            continue
        horizon = max(c[-1][0] for c in curves)
        grid = np.linspace(0, horizon, 200)
        values = []
        for curve in curves:
            times = np.array([c[0] for c in curve])
            best = np.array([c[1] if math.isfinite(c[1]) else np.nan for c in curve])
            index = np.searchsorted(times, grid, side="right") - 1
            values.append(np.where(index >= 0, best[np.clip(index, 0, None)], np.nan))
        values = np.array(values)
        # Before a method's first trial ends every seed is NaN there: nothing to draw, no warning.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            median = np.nanmedian(values, axis=0)
            low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        (line,) = axes.plot(grid, median, label=method, drawstyle="steps-post")
        axes.fill_between(grid, low, high, color=line.get_color(), alpha=0.15, step="post")
    axes.set_xlabel("cumulative training time (s)")
    axes.set_ylabel("best validation accuracy so far")
    axes.set_title(f"Search efficiency, {space} space (median across seeds, min-max band)")
    axes.legend(loc="lower right")
    axes.grid(alpha=0.3)
    figure.savefig(path, dpi=100)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist-5k",
                        choices=["auto", "keras", "mnist-5k", "digits"])
    parser.add_argument("--spaces", nargs="+", default=["default", "seed"],
                        choices=["default", "seed"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--warm-epochs", default=str(REPAIR_DEFAULTS["warm_epochs"]),
                        help="warm_epochs of the repair_* methods: 'auto', 'none' or an integer")
    parser.add_argument("--out", default="results/search_efficiency")
    parser.add_argument("--one", nargs=5, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true",
                        help=f"defaults for a CI-sized run: {QUICK} (under 5 minutes on 2 "
                             "CPU cores); flags given explicitly still apply")
    raw = list(sys.argv[1:] if argv is None else argv)
    if parser.parse_args(raw).quick:
        parser.set_defaults(**QUICK)
    args = parser.parse_args(raw)
    args.argv = raw
    value = args.warm_epochs.lower()
    REPAIR_DEFAULTS["warm_epochs"] = None if value == "none" else (
        "auto" if value == "auto" else int(value))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.one is not None:
        return _run_one_and_save(args, args.one)
    if BASELINE not in args.methods:
        args.methods = [BASELINE, *args.methods]
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "search_efficiency.json")
    # Runs already in the JSON file with the same settings are kept: a killed benchmark picks
    # up where it stopped instead of starting over.
    settings = {k: getattr(args, k)
                for k in ("dataset", "max_trials", "epochs", "batch_size", "warm_epochs")}
    previous = read_json(json_path) or {}
    done = {
        (r["space"], r["seed"], r["method"]): r
        for r in previous.get("runs", [])
        if previous.get("settings") == settings
    }
    runs = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kt_nasrepair_bench_") as directory:
        cache_data(args.dataset, directory)
        for space in args.spaces:
            for seed in range(args.seeds):
                # The order of the methods rotates with the seed, so that no method always
                # runs first (or last) on a machine whose speed drifts.
                shift = seed % len(args.methods)
                for method in args.methods[shift:] + args.methods[:shift]:
                    run = done.get((space, seed, method))
                    if run is None:
                        run = run_isolated(method, space, seed, args, directory)
                    runs.append(run)
                    atomic_write_json(json_path, {"settings": settings, "runs": runs})
                    best = best_so_far(run["trials"])
                    print(f"{space:8s} seed {seed} {method:15s} {run['search_seconds']:7.1f} s "
                          f"best val {best[-1][1]:.4f} test {best[-1][2]}", flush=True)
    duration = time.perf_counter() - start
    table = summarise(runs, args.methods, args.spaces)
    atomic_write_json(json_path, {"settings": settings, "args": vars(args),
                                  "duration_seconds": duration, "runs": runs})
    text = markdown(table, args) + f"\nWall time of this invocation (runs reused from an earlier, interrupted one excluded): {duration:.0f} s.\n"
    with open(os.path.join(args.out, "search_efficiency.md"), "w") as f:
        f.write(text)
    for space in args.spaces:
        plot(runs, args.methods, space, os.path.join(args.out, f"search_efficiency_{space}.png"))
    print(text)
    return table


if __name__ == "__main__":
    main()
