"""Does the shape-stable mode change results? Same seed across modes, against seed noise.

For configurations drawn from a space, each is trained three times from the same data:
compact with seed s, shape-stable (padded) with seed s, and compact with seed s + 1. The
mode's effect is |padded(s) - compact(s)| of the final validation accuracy; training noise is
|compact(s + 1) - compact(s)|. Every backend runs in its own process.

    python benchmarks/shape_stable_agreement.py                      # TF + JAX, seed space
    python benchmarks/shape_stable_agreement.py --backends jax --configs 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_backend(configs, epochs, dataset, seed):
    import keras
    import keras_tuner
    import numpy as np

    from kt_nasrepair import DenseHyperModel
    from kt_nasrepair.datasets import load_mnist

    (x, y), _ = load_mnist(dataset)
    cut = int(0.8 * len(x))
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(configs):
        values = {"num_layers": int(rng.integers(1, 11)), "units": int(rng.integers(1, 11))}
        scores = {}
        for label, mode, run_seed in (("compact", False, seed), ("padded", True, seed),
                                      ("compact_next_seed", False, seed + 1)):
            keras.utils.set_random_seed(run_seed)
            hypermodel = DenseHyperModel.mnist_seed(input_shape=x.shape[1:], shape_stable=mode)
            hp = keras_tuner.HyperParameters()
            hp.values.update(values)
            model = hypermodel.build(hp)
            history = hypermodel.fit(hp, model, x[:cut], y[:cut], epochs=epochs, batch_size=32,
                                     validation_data=(x[cut:], y[cut:]), verbose=0)
            scores[label] = float(history.history["val_accuracy"][-1])
        rows.append({"values": values, **scores})
    return {"backend": keras.backend.backend(), "rows": rows}


def summarize(result) -> dict:
    rows = result["rows"]
    mode = [abs(r["padded"] - r["compact"]) for r in rows]
    noise = [abs(r["compact_next_seed"] - r["compact"]) for r in rows]
    return {
        "backend": result["backend"],
        "configs": len(rows),
        "mode_median": statistics.median(mode),
        "mode_max": max(mode),
        "identical": sum(m == 0 for m in mode),
        "noise_median": statistics.median(noise),
        "noise_max": max(noise),
        "mean_padded_minus_compact": statistics.mean(r["padded"] - r["compact"] for r in rows),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--configs", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="results/shape_stable_agreement")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(run_backend(args.configs, args.epochs, args.dataset, args.seed)))
        return 0
    os.makedirs(args.out, exist_ok=True)
    summaries = []
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
                   KT_NASREPAIR_OFFLINE="1",
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        completed = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--worker", "--configs",
             str(args.configs), "--epochs", str(args.epochs), "--dataset", args.dataset,
             "--seed", str(args.seed)], env=env, capture_output=True, text=True, check=True)
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        with open(os.path.join(args.out, f"{backend}.json"), "w") as f:
            json.dump(result, f, indent=1)
        summaries.append(summarize(result))
    lines = ["| backend | configs | identical | same seed, padded vs compact: median (max) | "
             "next seed, compact: median (max) | mean padded - compact |", "|---|---|---|---|---|---|"]
    for s in summaries:
        lines.append(f"| {s['backend']} | {s['configs']} | {s['identical']} | "
                     f"{s['mode_median']:.4f} ({s['mode_max']:.4f}) | "
                     f"{s['noise_median']:.4f} ({s['noise_max']:.4f}) | "
                     f"{s['mean_padded_minus_compact']:+.4f} |")
    table = "\n".join(lines)
    with open(os.path.join(args.out, "agreement.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
