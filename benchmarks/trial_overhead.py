"""Where a trial's time goes: KerasTuner's RandomSearch against RepairTuner, same configurations.

Each trial's wall time (from the oracle's `create_trial` to the end of `on_trial_end`) is split,
by timing callbacks and wrappers around the tuner's, the oracle's and Keras' methods, into:

- `build`: building and compiling the model (`_try_build`, less the session reset);
- `session_reset`: KerasTuner's `clear_session()` + `gc.collect()` before every build;
- `trace_compile`: the first epoch's excess over a steady epoch, training and validation
  (tracing on TensorFlow, tracing + XLA compilation on JAX);
- `steady_train`, `validation`: every epoch at the steady rate (median of epochs 2..n);
- `fit_setup`: the rest of `fit` (data adapters, callbacks, history);
- `checkpoint_io`: KerasTuner's best-epoch checkpoint writes;
- `record_io`: trial, oracle, tuner and lineage files written or read;
- `oracle_proposal`: `populate_space`, the oracle choosing the next values;
- `warm_start`: RepairTuner's donor choice, rebuild, checkpoint load and Net2Net transfer;
- `gc_auto`: Python's automatic garbage collections, wherever they fall (`gc.callbacks`);
  taken out of the part they interrupted;
- `rest`: everything else (oracle scoring and bookkeeping, display, checks).

Both tuners are driven by KerasTuner's `RandomSearchOracle` with the same seed, so they run
the same configurations in the same order (checked: the run fails otherwise). Every
(backend, tuner, repetition) runs in its own process with `KERAS_BACKEND` set. With JAX, the
lean tuner also runs a second time on the compilation cache the first run filled (a second
process running the same search), to measure what the persistent cache saves.

    python benchmarks/trial_overhead.py --quick   # TF, digits, 4 trials x 2 epochs, 2 tuners: ~35 s
    python benchmarks/trial_overhead.py           # README main job settings, TF + JAX, 3 reps
    python benchmarks/trial_overhead.py --lean    # only kt_random and repair

Tuners: `kt_random` (keras_tuner.RandomSearch, the hypermodel with `shape_stable=False`: a
new model traced and compiled every trial, as KerasTuner does), `repair_compact` (RepairTuner
with `shape_stable=False`), `repair` (RepairTuner as shipped: `shape_stable="auto"`, or
`--shape-stable`), `kt_random_stable` (keras_tuner.RandomSearch with the shipped hypermodel:
what the shape-stable mode alone gives any KerasTuner tuner).

Outputs in `--out`: `trial_overhead.json` (every trial of every run) and `trial_overhead.md`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUNERS = ("kt_random", "repair_compact", "repair", "kt_random_stable")
BASELINE = "kt_random"
CATEGORIES = (
    "build",
    "session_reset",
    "trace_compile",
    "steady_train",
    "validation",
    "fit_setup",
    "checkpoint_io",
    "record_io",
    "oracle_proposal",
    "warm_start",
    "gc_auto",
    "rest",
)
# The README main job (kt_nasrepair/cli.py defaults): mnist-5k, 10 trials x 3 epochs, batch
# 32, validation_split 0.2, the original example's space. --quick: small, TensorFlow only.
# NOTE: seed 1, not the main job's 0: KerasTuner's RandomSearchOracle treats seed=0 as "no
# seed" (`seed or random.randint(...)`), which would give each tuner other configurations.
MAIN = {"dataset": "mnist-5k", "max_trials": 10, "epochs": 3, "batch_size": 32, "seed": 1,
        "validation_split": 0.2, "backends": ["tensorflow", "jax"], "repeats": 3}
QUICK = {"dataset": "digits", "max_trials": 4, "epochs": 2, "batch_size": 32, "seed": 1,
         "validation_split": 0.2, "backends": ["tensorflow"], "repeats": 1}
# Labels charged by the profiler, mapped to the categories above (others go to "rest").
LABELS = {
    "build": "build", "session_reset": "session_reset", "fit": "fit_setup",
    "checkpoint": "checkpoint_io", "record_io": "record_io", "proposal": "oracle_proposal",
    "warm_start": "warm_start", "gc_auto": "gc_auto",
}
OPAQUE = ("warm_start",)  # everything inside a warm start is charged to it


# ---------------------------------------------------------------------------- profiling
class Profiler:
    """Exclusive time per label, per trial: a label's time excludes the labels nested in it."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.stack = []  # [label, start, time spent in children]
        self.trials = {}
        self.current = None  # the open trial's accumulator
        self.pending = None  # accumulator opened by create_trial before its id is known

    def enter(self, label):
        self.stack.append([label, self.clock(), 0.0])

    def exit(self, label):
        while self.stack:
            frame = self.stack.pop()
            elapsed = self.clock() - frame[1]
            if self.stack:
                self.stack[-1][2] += elapsed
            self._charge(frame[0], elapsed - frame[2])
            if frame[0] == label:
                return elapsed - frame[2]
        return 0.0

    @contextlib.contextmanager
    def region(self, label):
        self.enter(label)
        try:
            yield
        finally:
            self.exit(label)

    def on_gc(self, phase, info):
        # An automatic collection nests in whatever ran; explicit ones are in session_reset.
        if self.stack and self.stack[-1][0] == "session_reset":
            return
        if phase == "start":
            self.enter("gc_auto")
        elif self.stack and self.stack[-1][0] == "gc_auto":
            self.exit("gc_auto")

    def _charge(self, label, seconds):
        target = self.current or self.pending
        if target is None:
            return
        for frame in self.stack:
            if frame[0] in OPAQUE:
                label = frame[0]
                break
        target["charges"][label] = target["charges"].get(label, 0.0) + seconds

    def begin_trial(self):
        self.pending = {"start": self.clock(), "charges": {}, "epochs": []}

    def trial_created(self, trial):
        if self.pending is None:
            return
        if trial.status == "RUNNING":
            self.pending["trial_id"] = trial.trial_id
            self.pending["values"] = dict(trial.hyperparameters.values)
            self.current, self.pending = self.pending, None
        else:
            self.pending = None

    def end_trial(self, trial_id, score, status):
        if self.current is None:
            return
        self.current.update(wall=self.clock() - self.current.pop("start"), score=score,
                            status=status)
        self.trials[trial_id] = self.current
        self.current = None

    def epoch(self, train_seconds, validation_seconds):
        target = self.current
        if target is not None:
            target["epochs"].append([train_seconds, validation_seconds])


_PROFILER: Profiler | None = None


def _timed(label, function):
    def wrapper(*args, **kwargs):
        with _PROFILER.region(label):
            return function(*args, **kwargs)

    wrapper.__wrapped__ = function
    return wrapper


def _make_epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Times each epoch's training part and validation part into the profiler."""

        def __deepcopy__(self, memo):  # KerasTuner deep-copies callbacks; keep one timer
            return self

        def on_epoch_begin(self, epoch, logs=None):
            self.train, self.val = None, 0.0
            _PROFILER.enter("epoch_train")

        def on_test_begin(self, logs=None):
            self.train = _PROFILER.exit("epoch_train")
            _PROFILER.enter("epoch_validation")

        def on_test_end(self, logs=None):
            self.val = _PROFILER.exit("epoch_validation")

        def on_epoch_end(self, epoch, logs=None):
            if self.train is None:
                self.train = _PROFILER.exit("epoch_train")
            _PROFILER.epoch(self.train, self.val)

    return EpochTimer()


@contextlib.contextmanager
def instrument(tuner):
    """Wraps the tuner's, its oracle's and the libraries' per-trial methods; restores them."""
    import gc

    import keras
    import keras_tuner.src.engine.tuner as kt_tuner_module
    import keras_tuner.src.engine.tuner_utils as kt_tuner_utils
    import keras_tuner.src.utils as kt_utils

    import kt_nasrepair._io as io_module

    patches = []  # (owner, name, what its own __dict__ held, whether it held it)

    def patch(owner, name, replacement):
        own = vars(owner)
        patches.append((owner, name, own.get(name), name in own))
        setattr(owner, name, replacement)

    oracle = tuner.oracle
    create = oracle.create_trial

    def create_trial(tuner_id):
        _PROFILER.begin_trial()
        with _PROFILER.region("oracle"):
            trial = create(tuner_id)
        _PROFILER.trial_created(trial)
        return trial

    patch(oracle, "create_trial", create_trial)
    patch(oracle, "populate_space", _timed("proposal", oracle.populate_space))
    patch(oracle, "_save_trial", _timed("record_io", oracle._save_trial))
    patch(oracle, "save", _timed("record_io", oracle.save))
    patch(tuner, "_try_build", _timed("build", tuner._try_build))
    patch(tuner, "save", _timed("record_io", tuner.save))
    patch(tuner.hypermodel, "fit", _timed("fit", tuner.hypermodel.fit))
    if hasattr(tuner, "trial_record"):  # a RepairTuner: its runs' warm starts
        from kt_nasrepair.repair.trial_run import TrialRun

        patch(TrialRun, "warm_start", _timed("warm_start", TrialRun.warm_start))
    end = tuner.on_trial_end

    def on_trial_end(trial):
        try:
            end(trial)
        finally:
            ended = tuner.oracle.get_trial(trial.trial_id)
            _PROFILER.end_trial(trial.trial_id, ended.score, ended.status)

    patch(tuner, "on_trial_end", on_trial_end)
    patch(keras.backend, "clear_session", _timed("session_reset", keras.backend.clear_session))

    class _TimedGC:
        collect = staticmethod(_timed("session_reset", gc.collect))

        def __getattr__(self, name):
            return getattr(gc, name)

    patch(kt_tuner_module, "gc", _TimedGC())
    patch(kt_tuner_utils.SaveBestEpoch, "_save_model",
          _timed_method("checkpoint", kt_tuner_utils.SaveBestEpoch._save_model))
    patch(kt_utils, "save_json", _timed("record_io", kt_utils.save_json))
    # Our modules import the helpers by name: wrap every reference to them.
    for name in ("atomic_write_json", "read_json"):
        original = getattr(io_module, name)
        wrapped = _timed("record_io", original)
        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("kt_nasrepair") and getattr(
                module, name, None
            ) is original:
                patch(module, name, wrapped)
    gc.callbacks.append(_PROFILER.on_gc)
    try:
        yield
    finally:
        gc.callbacks.remove(_PROFILER.on_gc)
        for owner, name, original, had in reversed(patches):
            if had:
                setattr(owner, name, original)
            else:  # an instance attribute shadowing a method: remove it
                delattr(owner, name)


def _timed_method(label, function):
    def wrapper(self, *args, **kwargs):
        with _PROFILER.region(label):
            return function(self, *args, **kwargs)

    return wrapper


def split_trial(record) -> dict:
    """Seconds per category for one profiled trial (they sum to its wall time)."""
    charges = dict(record["charges"])
    categories = dict.fromkeys(CATEGORIES, 0.0)
    epochs = record["epochs"]
    train = [e[0] for e in epochs]
    val = [e[1] for e in epochs]
    charges.pop("epoch_train", None)
    charges.pop("epoch_validation", None)
    if len(epochs) >= 2:
        steady_train, steady_val = statistics.median(train[1:]), statistics.median(val[1:])
    else:  # one epoch: no steady epoch to compare with, all of it counts as training
        steady_train, steady_val = (train[0], val[0]) if epochs else (0.0, 0.0)
    categories["steady_train"] = steady_train * len(epochs)
    categories["validation"] = steady_val * len(epochs)
    categories["trace_compile"] = sum(train) + sum(val) - (steady_train + steady_val) * len(
        epochs
    )
    for label, seconds in charges.items():
        categories[LABELS.get(label, "rest")] += seconds
    labelled = sum(v for k, v in categories.items() if k != "rest")
    categories["rest"] = record["wall"] - labelled
    return categories


# ---------------------------------------------------------------------------- one run
def make_tuner(name, hypermodel, config, directory, project_name):
    import keras_tuner

    from kt_nasrepair.repair import RepairTuner

    common = dict(directory=directory, project_name=project_name, overwrite=True)
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective="val_accuracy", max_trials=config["max_trials"], seed=config["seed"]
    )
    if name in ("kt_random", "kt_random_stable"):
        return keras_tuner.RandomSearch(hypermodel, objective="val_accuracy",
                                        max_trials=config["max_trials"], seed=config["seed"],
                                        **common)
    if name in ("repair", "repair_compact"):
        cache = config.get("jax_cache_dir") or True

        class BenchRepairTuner(RepairTuner):
            jax_compilation_cache = cache

        return BenchRepairTuner(hypermodel, oracle=oracle, **common)
    raise ValueError(f"`tuner` must be one of {TUNERS}. Received: tuner={name!r}")


def shape_stable_mode(name, config):
    """KerasTuner's baseline and `repair_compact` compile every trial (shape_stable=False)."""
    if name in ("kt_random", "repair_compact"):
        return False
    return config.get("shape_stable", "auto")


def load_data(config):
    import numpy as np

    if config["dataset"] == "synthetic":
        rng = np.random.default_rng(config["seed"])
        x = rng.standard_normal((config.get("samples", 160), 16)).astype("float32")
        y = np.eye(10, dtype="float32")[rng.integers(0, 10, len(x))]
        return x, y
    from kt_nasrepair.datasets import load_mnist

    (x, y), _ = load_mnist(config["dataset"])
    return x, y


def run_search(name, config, directory) -> dict:
    """Runs one instrumented search in this process; returns its profiled trials."""
    global _PROFILER
    import keras

    from kt_nasrepair.hypermodel import DenseHyperModel

    keras.utils.set_random_seed(config["seed"])
    x, y = load_data(config)
    mode = shape_stable_mode(name, config)
    if config.get("space", "seed") == "default":
        # DenseHyperModel's defaults: 1-4 layers x 32-512 units, tuned learning rate.
        hypermodel = DenseHyperModel(input_shape=x.shape[1:], num_classes=10,
                                     shape_stable=mode)
    else:
        hypermodel = DenseHyperModel.mnist_seed(input_shape=x.shape[1:], shape_stable=mode)
    tuner = make_tuner(name, hypermodel, config, directory, project_name=name)
    _PROFILER = Profiler()
    start = time.perf_counter()
    with instrument(tuner):
        tuner.search(x, y, epochs=config["epochs"], batch_size=config["batch_size"],
                     validation_split=config["validation_split"], verbose=0,
                     callbacks=[_make_epoch_timer()])
    search_seconds = time.perf_counter() - start
    trials = []
    for trial_id, record in sorted(_PROFILER.trials.items()):
        trials.append({
            "trial_id": trial_id,
            "values": record.get("values"),
            "status": record["status"],
            "score": record["score"],
            "wall": record["wall"],
            "epochs": record["epochs"],
            "categories": split_trial(record),
        })
    cache_dir = None
    if name.startswith("repair") and keras.backend.backend() == "jax":
        from kt_nasrepair.repair import backend_state

        cache_dir = backend_state._jax_cache_dir
    return {
        "tuner": name,
        "backend": keras.backend.backend(),
        "search_seconds": search_seconds,
        "trials": trials,
        "jax_cache_entries": len(os.listdir(cache_dir)) if cache_dir else None,
    }


def _spawn(spec, workdir) -> dict:
    out = os.path.join(workdir, f"{spec['backend']}_{spec['tuner']}_{spec['label']}.json")
    env = dict(os.environ, KERAS_BACKEND=spec["backend"], TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               KT_NASREPAIR_OFFLINE="1")
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec),
               "--worker-out", out]
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"worker {spec} failed:\n{completed.stderr[-4000:]}")
    with open(out) as f:
        return json.load(f)


# ---------------------------------------------------------------------------- summary
def outside_steady(trial) -> float:
    """A trial's seconds beyond its epochs at the steady rate (training and validation)."""
    c = trial["categories"]
    return trial["wall"] - c["steady_train"] - c["validation"]


def _spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(runs) -> dict:
    """Per backend and tuner: per-trial medians of each run, then median/min/max over runs."""
    summary = {}
    for backend in sorted({r["backend"] for r in runs}):
        per_tuner = {}
        for run in (r for r in runs if r["backend"] == backend):
            key = run["tuner"] + ("_cached" if run.get("label", "").startswith("cached") else "")
            trials = [t for t in run["trials"] if t["status"] == "COMPLETED"]
            entry = per_tuner.setdefault(key, {"runs": []})
            entry["runs"].append({
                "categories": {c: statistics.median(t["categories"][c] for t in trials)
                               for c in CATEGORIES},
                "wall": statistics.median(t["wall"] for t in trials),
                "outside": statistics.median(outside_steady(t) for t in trials),
                "outside_total": sum(outside_steady(t) for t in trials),
                "search_seconds": run["search_seconds"],
                # The JAX target: compilation at most 20% of the search time.
                "trace_share": (sum(t["categories"]["trace_compile"] for t in trials)
                                / run["search_seconds"]) if run["search_seconds"] else 0.0,
                "rep": run.get("rep", 0),
            })
        for entry in per_tuner.values():
            runs_ = entry["runs"]
            entry["categories"] = {c: _spread([r["categories"][c] for r in runs_])
                                   for c in CATEGORIES}
            for field in ("wall", "outside", "outside_total", "search_seconds", "trace_share"):
                entry[field] = _spread([r[field] for r in runs_])
        base = per_tuner.get(BASELINE)
        for name, entry in per_tuner.items():
            if base is None or name == BASELINE:
                continue
            ratios = [r["outside_total"] / b["outside_total"]
                      for r, b in zip(entry["runs"], base["runs"]) if b["outside_total"] > 0]
            entry["outside_ratio_to_baseline"] = _spread(ratios) if ratios else None
            ratios = [r["search_seconds"] / b["search_seconds"]
                      for r, b in zip(entry["runs"], base["runs"]) if b["search_seconds"] > 0]
            entry["search_ratio_to_baseline"] = _spread(ratios) if ratios else None
        summary[backend] = per_tuner
    return summary


def _fmt(spread):
    return f"{spread['median']:.3f} ({spread['min']:.3f}-{spread['max']:.3f})"


def markdown(summary, config) -> str:
    lines = [
        f"Per-trial seconds, median over the trials of a run, then median (min-max) over "
        f"{config['repeats']} run(s); {config['dataset']}, {config.get('space', 'seed')} "
        f"space, {config['max_trials']} trials x "
        f"{config['epochs']} epochs, batch {config['batch_size']}.",
        "",
    ]
    for backend, per_tuner in summary.items():
        names = list(per_tuner)
        lines += [f"**{backend}**", "", "| part | " + " | ".join(names) + " |",
                  "|---|" + "---|" * len(names)]
        for category in CATEGORIES:
            lines.append(f"| {category} | " + " | ".join(
                _fmt(per_tuner[n]["categories"][category]) for n in names) + " |")
        lines.append("| **trial wall** | " + " | ".join(
            _fmt(per_tuner[n]["wall"]) for n in names) + " |")
        lines.append("| **outside steady epochs** | " + " | ".join(
            _fmt(per_tuner[n]["outside"]) for n in names) + " |")
        lines.append("| outside, whole search | " + " | ".join(
            _fmt(per_tuner[n]["outside_total"]) for n in names) + " |")
        lines.append("| ratio to kt_random (outside, whole search) | " + " | ".join(
            _fmt(per_tuner[n]["outside_ratio_to_baseline"])
            if per_tuner[n].get("outside_ratio_to_baseline") else "1" for n in names) + " |")
        lines.append("| search seconds | " + " | ".join(
            _fmt(per_tuner[n]["search_seconds"]) for n in names) + " |")
        lines.append("| ratio to kt_random (search seconds) | " + " | ".join(
            _fmt(per_tuner[n]["search_ratio_to_baseline"])
            if per_tuner[n].get("search_ratio_to_baseline") else "1" for n in names) + " |")
        lines.append("| trace/compile share of search | " + " | ".join(
            _fmt(per_tuner[n]["trace_share"]) for n in names) + " |")
        lines.append("")
    return "\n".join(lines)


def check_same_configurations(runs) -> None:
    """Raises when two runs of one backend did not try the same values in the same order."""
    reference = {}
    for run in runs:
        values = [t["values"] for t in run["trials"]]
        expected = reference.setdefault(run["backend"], values)
        if values != expected:
            raise RuntimeError(
                f"{run['backend']} {run['tuner']} tried other configurations: {values} "
                f"against {expected}"
            )


# ---------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small TensorFlow-only run")
    parser.add_argument("--backends", default=None, help="comma-separated, e.g. tensorflow,jax")
    parser.add_argument("--tuners", default=None,
                        help=f"comma-separated among {','.join(TUNERS)} (default: all; "
                        "--quick: kt_random,repair)")
    parser.add_argument("--lean", action="store_true", help="only kt_random and repair")
    parser.add_argument("--shape-stable", default=None, choices=["auto", "on", "off"],
                        help="the hypermodel's mode in `repair` and `kt_random_stable` "
                        "(default: auto)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--max-trials", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--dataset", default=None)
    parser.add_argument("--space", default=None, choices=["seed", "default"],
                        help="seed: the original example's space (default); default: "
                        "DenseHyperModel's defaults (1-4 layers x 32-512 units)")
    parser.add_argument("--out", default="results/trial_overhead")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        with tempfile.TemporaryDirectory() as directory:
            result = run_search(spec["tuner"], spec["config"], directory)
        result.update(label=spec["label"], rep=spec["rep"])
        with open(args.worker_out, "w") as f:
            json.dump(result, f)
        return 0

    config = copy.deepcopy(QUICK if args.quick else MAIN)
    for name in ("repeats", "max_trials", "epochs", "dataset", "space"):
        if getattr(args, name) is not None:
            config[name] = getattr(args, name)
    if args.backends:
        config["backends"] = args.backends.split(",")
    if args.shape_stable is not None:
        config["shape_stable"] = {"auto": "auto", "on": True, "off": False}[args.shape_stable]
    if args.tuners:
        tuners = args.tuners.split(",")
    elif args.lean or args.quick:
        tuners = ["kt_random", "repair"]
    else:
        tuners = list(TUNERS)
    unknown = sorted(set(tuners) - set(TUNERS))
    if unknown:
        parser.error(f"--tuners must be among {', '.join(TUNERS)}; received {unknown}")
    os.makedirs(args.out, exist_ok=True)
    runs = []
    with tempfile.TemporaryDirectory() as workdir:
        for rep in range(config["repeats"]):
            for backend in config["backends"]:
                # A fresh cache per repetition: the first lean run compiles, the second reuses.
                cache_dir = os.path.join(workdir, f"jax_cache_{rep}")
                for tuner in tuners:
                    run_config = dict(config, jax_cache_dir=cache_dir)
                    labels = ["cold"]
                    if tuner == "repair_compact" and backend == "jax":
                        labels.append("cached")
                    for label in labels:
                        spec = {"backend": backend, "tuner": tuner, "rep": rep,
                                "label": f"{label}_{rep}", "config": run_config}
                        started = time.perf_counter()
                        runs.append(_spawn(spec, workdir))
                        print(f"{backend:10s} {tuner:12s} {label:6s} rep {rep}: "
                              f"{time.perf_counter() - started:6.1f} s", flush=True)
    check_same_configurations(runs)
    summary = summarize(runs)
    with open(os.path.join(args.out, "trial_overhead.json"), "w") as f:
        json.dump({"config": config, "command": sys.argv, "runs": runs, "summary": summary},
                  f, indent=1)
    table = markdown(summary, config)
    with open(os.path.join(args.out, "trial_overhead.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
