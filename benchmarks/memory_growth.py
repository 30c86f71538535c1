"""Resident memory across a long search: MB per trial, for a user's models and our tuners.

Each (model, tuner) configuration runs in its own process (`KERAS_BACKEND` inherited). The
process's resident set (`VmRSS` in `/proc/self/status`) is sampled after every trial (at the
end of `on_trial_end`); the growth is the least-squares slope of RSS over the trial index,
fitted after the first quarter of the trials (the first trials fill caches that do not grow
afterwards: traced functions, the donor cache, imported modules).

Models (a user's `build_model`, written for KerasTuner, with an `Input` so warm starts run):
- `dense`: Flatten, 1-3 Dense layers of 8-256 units, optional Dropout, log-uniform learning
  rate (KerasTuner's getting-started model, smaller), on scikit-learn's 8x8 digits;
- `conv`: one or two Conv2D layers (4-32 filters) on the digits as 8x8x1 images, then Dense.
Tuners: `repair` (RepairTuner, strategy="quasi_random"), `with_repair_random`
(`with_repair(keras_tuner.RandomSearch)`), `kt_random` (keras_tuner.RandomSearch, for
reference: it resets the Keras session and collects garbage before every trial).

    python benchmarks/memory_growth.py --trials 300                    # 6 configurations
    python benchmarks/memory_growth.py --trials 40 --models dense --tuners repair
    python benchmarks/memory_growth.py --collect ...   # a full gc.collect() after every trial

Every trial trains one epoch on `--samples` digits (default 300), so a trial costs well under
a second and the search's own bookkeeping dominates, as it does in a long search.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = ("dense", "conv")
TUNERS = ("repair", "with_repair_random", "kt_random")


def rss_mb() -> float:
    """This process's resident set size in MB, read from `/proc/self/status` (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("VmRSS not found in /proc/self/status")


def slope_after_warmup(values, skip_fraction: float = 0.25) -> float:
    """Least-squares slope of `values` over their index, after the first `skip_fraction`."""
    start = int(len(values) * skip_fraction)
    ys = list(values[start:])
    if len(ys) < 2:
        return float("nan")
    xs = range(start, start + len(ys))
    mean_x = sum(xs) / len(ys)
    mean_y = sum(ys) / len(ys)
    covariance = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    variance = sum((x - mean_x) ** 2 for x in xs)
    return covariance / variance


def build_dense(hp):
    import keras

    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten()])
    for i in range(hp.Int("num_layers", 1, 3)):
        model.add(keras.layers.Dense(hp.Int(f"units_{i}", 8, 256, step=8),
                                     activation=hp.Choice("activation", ["relu", "tanh"])))
    if hp.Boolean("dropout"):
        model.add(keras.layers.Dropout(0.25))
    model.add(keras.layers.Dense(10, activation="softmax"))
    learning_rate = hp.Float("lr", 1e-4, 1e-2, sampling="log")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def build_conv(hp):
    import keras

    model = keras.Sequential([keras.Input((8, 8, 1))])
    for i in range(hp.Int("conv_layers", 1, 2)):
        model.add(keras.layers.Conv2D(hp.Int(f"filters_{i}", 4, 32, step=4), 3,
                                      padding="same", activation="relu"))
    model.add(keras.layers.Flatten())
    model.add(keras.layers.Dense(hp.Int("units", 8, 64, step=8), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-2, sampling="log")),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def _tuner_class(tuner, collect=False):
    import keras_tuner

    import kt_nasrepair

    base = {
        "repair": kt_nasrepair.RepairTuner,
        "with_repair_random": kt_nasrepair.with_repair(keras_tuner.RandomSearch),
        "kt_random": keras_tuner.RandomSearch,
    }[tuner]

    class Sampled(base):
        """Samples RSS and time once a trial has fully ended (files written, oracle told)."""

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if collect:  # the alternative measured: a full collection after every trial
                start = time.perf_counter()
                gc.collect()
                self.collect_seconds.append(time.perf_counter() - start)
            self.samples.append((rss_mb(), time.perf_counter()))

    return Sampled


def run_config(model: str, tuner: str, trials: int, samples: int, epochs: int,
               directory: str, collect: bool = False) -> dict:
    """Runs one search in this process; returns its RSS after every trial."""
    import numpy as np

    from kt_nasrepair.datasets import load_mnist

    (x, y), (x_val, y_val) = load_mnist("digits", flatten=False)
    x, y, x_val, y_val = x[:samples], y[:samples], x_val[:samples // 2], y_val[:samples // 2]
    if model == "conv":
        x, x_val = x[..., np.newaxis], x_val[..., np.newaxis]
    build = {"dense": build_dense, "conv": build_conv}[model]
    cls = _tuner_class(tuner, collect)
    kwargs = dict(objective="val_accuracy", max_trials=trials, seed=0, directory=directory,
                  project_name=f"{model}_{tuner}", overwrite=True)
    if tuner == "repair":
        kwargs["strategy"] = "quasi_random"
    search = cls(build, **kwargs)
    search.samples, search.collect_seconds = [], []
    start_rss, start = rss_mb(), time.perf_counter()
    search.search(x, y, validation_data=(x_val, y_val), epochs=epochs, batch_size=64,
                  verbose=0)
    rss = [s[0] for s in search.samples]
    ends = [start] + [s[1] for s in search.samples]
    seconds = [b - a for a, b in zip(ends, ends[1:])]
    return {"model": model, "tuner": tuner + ("+gc" if collect else ""), "trials": len(rss),
            "rss_before_mb": start_rss, "rss_mb": rss, "seconds": seconds,
            "collect_seconds": search.collect_seconds}


def summarize(result: dict) -> dict:
    """MB per trial (slope after the first quarter), RSS at the end, median s per trial."""
    seconds = sorted(result["seconds"][len(result["seconds"]) // 4:]) or [float("nan")]
    return {
        "model": result["model"],
        "tuner": result["tuner"],
        "trials": result["trials"],
        "mb_per_trial": slope_after_warmup(result["rss_mb"]),
        "rss_end_mb": result["rss_mb"][-1] if result["rss_mb"] else float("nan"),
        "s_per_trial": seconds[len(seconds) // 2],
        "gc_s_per_trial": (statistics.median(result["collect_seconds"])
                           if result.get("collect_seconds") else None),
    }


def run_in_subprocess(model, tuner, args) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        command = [sys.executable, os.path.abspath(__file__), "--worker", model, tuner, out,
                   "--trials", str(args.trials), "--samples", str(args.samples),
                   "--epochs", str(args.epochs)] + (["--collect"] if args.collect else [])
        env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               "TF_CPP_MIN_LOG_LEVEL": "3", "KT_NASREPAIR_OFFLINE": "1"}
        subprocess.run(command, check=True, env=env, cwd=tmp, stdout=subprocess.DEVNULL)
        with open(out) as f:
            return json.load(f)


def table(rows) -> str:
    lines = ["| model | tuner | trials | MB per trial | RSS at end (MB) | s per trial "
             "| full gc.collect, s |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        gc_seconds = "" if r.get("gc_s_per_trial") is None else f"{r['gc_s_per_trial']:.2f}"
        lines.append(f"| {r['model']} | {r['tuner']} | {r['trials']} | {r['mb_per_trial']:.3f} "
                     f"| {r['rss_end_mb']:.0f} | {r['s_per_trial']:.2f} | {gc_seconds} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--tuners", nargs="+", choices=TUNERS, default=list(TUNERS))
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--collect", action="store_true",
                        help="also run a full gc.collect() after every trial (and time it)")
    parser.add_argument("--out", default=None, help="writes every sample as JSON here")
    parser.add_argument("--worker", nargs=3, metavar=("MODEL", "TUNER", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        model, tuner, out = args.worker
        with tempfile.TemporaryDirectory() as directory:
            result = run_config(model, tuner, args.trials, args.samples, args.epochs, directory,
                                args.collect)
        with open(out, "w") as f:
            json.dump(result, f)
        return
    results, rows = [], []
    for model in args.models:
        for tuner in args.tuners:
            result = run_in_subprocess(model, tuner, args)
            results.append(result)
            rows.append(summarize(result))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    print(table(rows))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "results": results, "summary": rows}, f)


if __name__ == "__main__":
    main()
