"""Population training: whole-search time against KerasTuner's RandomSearch, same trials.

Cases (each run in its own process, every run of a case on the same trials):
- `seed`: `DenseHyperModel.mnist_seed()` on mnist-5k, 20 trials x 3 epochs, batch 32,
  validation_split 0.2, KerasTuner's `RandomSearchOracle` (seed 1) for every tuner, so
  all tuners train the same configurations (the setting of `trial_overhead.py`).
- `user`: a user's own Dense `build_model` (KerasTuner's getting-started style, with an
  `Input`) on scikit-learn digits, 16 trials x 3 epochs.

Tuners: `kt_random` (`keras_tuner.RandomSearch`), `repair` (`RepairTuner`, or
`with_repair(RandomSearch)` for `user`, with `population="auto"`) and `repair_single` (the
same with `population=1`); `--populations 1 2 4 8` adds `repair_k<K>` runs (trials per
minute against K, e.g. on a GPU under `KERAS_BACKEND=jax`).

    KT_NASREPAIR_OFFLINE=1 python benchmarks/population.py --backends tensorflow jax
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CASES = {
    "seed": {"max_trials": 20, "epochs": 3},
    "user": {"max_trials": 16, "epochs": 3},
}


def _user_build_model(hp):
    import keras

    model = keras.Sequential([keras.Input((64,))])
    for i in range(hp.Int("num_layers", 1, 3)):
        model.add(keras.layers.Dense(hp.Int(f"units_{i}", 16, 128, step=16),
                                     activation=hp.Choice("activation", ["relu", "tanh"])))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def run_one(case, tuner_name, seed, directory) -> dict:
    """One search in this process; returns its wall time and best validation accuracy."""
    import keras
    import keras_tuner

    import kt_nasrepair
    from kt_nasrepair.datasets import load_mnist

    keras.utils.set_random_seed(seed)
    settings = CASES[case]
    common = dict(directory=directory, project_name=tuner_name, overwrite=True)
    population = {"repair": "auto", "repair_single": 1}.get(tuner_name)
    if tuner_name.startswith("repair_k"):
        population = int(tuner_name[len("repair_k"):])
    if case == "seed":
        (x, y), _ = load_mnist("mnist-5k")
        fit = dict(validation_split=0.2)
        hypermodel = kt_nasrepair.DenseHyperModel.mnist_seed(
            input_shape=x.shape[1:], shape_stable=False if tuner_name == "kt_random" else "auto")
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = (digits.data / 16).astype("float32"), digits.target
        fit = dict(validation_split=0.25)
        hypermodel = _user_build_model
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective="val_accuracy", max_trials=settings["max_trials"], seed=seed)
    if tuner_name == "kt_random":
        tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy",
                                         max_trials=settings["max_trials"], seed=seed, **common)
    else:
        tuner = kt_nasrepair.with_repair(keras_tuner.Tuner)(
            oracle=oracle, hypermodel=hypermodel, population=population, **common)
        tuner.show_progress = False
    start = time.perf_counter()
    tuner.search(x, y, epochs=settings["epochs"], batch_size=32, verbose=0, **fit)
    seconds = time.perf_counter() - start
    trials = list(tuner.oracle.trials.values())
    lineage = tuner.lineage() if hasattr(tuner, "lineage") else {}
    fused = sum(str(r.get("fit_mode", "")).startswith("population") for r in lineage.values())
    return {"case": case, "tuner": tuner_name, "seed": seed, "seconds": seconds,
            "trials": len(trials),
            "best": max((t.score for t in trials if t.score is not None), default=None),
            "fused_trials": fused}


def _spawn(backend, case, tuner_name, seed):
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "out.json")
        env = dict(os.environ, KERAS_BACKEND=backend, KT_NASREPAIR_OFFLINE="1",
                   TF_CPP_MIN_LOG_LEVEL="2")
        subprocess.run([sys.executable, os.path.abspath(__file__), "--one", case, tuner_name,
                        str(seed), directory, out], check=True, env=env)
        with open(out) as f:
            return {**json.load(f), "backend": backend}


def summarise(runs) -> str:
    """A markdown table: per backend, case and tuner, medians over seeds and ratios."""
    lines = ["| backend | case | tuner | runs | whole search, s (median, min-max) | ratio to "
             "RandomSearch's, same seed (median, min-max) | best val accuracy (median) | "
             "trials trained in a population |", "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["backend"], r["case"]) for r in runs})
    for backend, case in keys:
        mine = [r for r in runs if (r["backend"], r["case"]) == (backend, case)]
        base = {r["seed"]: r["seconds"] for r in mine if r["tuner"] == "kt_random"}
        for tuner_name in dict.fromkeys(r["tuner"] for r in mine):
            rows = [r for r in mine if r["tuner"] == tuner_name]
            seconds = [r["seconds"] for r in rows]
            ratios = [r["seconds"] / base[r["seed"]] for r in rows if r["seed"] in base]
            best = [r["best"] for r in rows if r["best"] is not None]
            lines.append(
                f"| {backend} | {case} | {tuner_name} | {len(rows)} | "
                f"{np.median(seconds):.1f} ({min(seconds):.1f}-{max(seconds):.1f}) | "
                f"{np.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) | "
                f"{np.median(best):.4f} | {int(np.median([r['fused_trials'] for r in rows]))}"
                f"/{rows[0]['trials']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--populations", nargs="*", type=int, default=[])
    parser.add_argument("--out", default="results/population.md")
    parser.add_argument("--one", nargs=5, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        case, tuner_name, seed, directory, out = args.one
        with open(out, "w") as f:
            json.dump(run_one(case, tuner_name, int(seed), directory), f)
        return 0
    tuners = ["kt_random", "repair", "repair_single", *(f"repair_k{k}" for k in args.populations)]
    runs = []
    for seed in range(1, args.seeds + 1):  # NOTE: RandomSearchOracle takes seed 0 as none
        for backend in args.backends:
            for case in args.cases:
                for tuner_name in tuners:  # interleaved, so drift hits every tuner alike
                    runs.append(_spawn(backend, case, tuner_name, seed))
                    print(json.dumps(runs[-1]), flush=True)
    table = summarise(runs)
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        f.write(f"Command: `python benchmarks/population.py {' '.join(argv or sys.argv[1:])}`"
                f"\n\n{table}")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
