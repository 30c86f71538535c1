"""Benchmark of the Net2Net morphism engine (`kt_nasrepair.morph`).

1. Time of `transfer` from 784-512x2-10 to 784-1024x4-10 and from the MNIST seed space's
   smallest model (1x1) to its largest (10x10), median of repeats, with the probe evaluated by
   the numpy forward pass (what `transfer` uses) and, for comparison, by `predict_on_batch`.
2. Warm-start quality on mnist-5k: a 2x64 parent trained 10 epochs is transferred to 3x128;
   the child's accuracy before training is compared with the parent's, and the child after
   3 epochs with the same child cold-started and trained 10 epochs (median of 5 seeds).

Usage:
    nice python benchmarks/morph.py [--quick] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import keras_tuner  # noqa: E402
import numpy as np  # noqa: E402

from kt_nasrepair import DenseHyperModel, morph  # noqa: E402
from kt_nasrepair.datasets import load_mnist  # noqa: E402


def build(depth, width, input_shape=(784,)):
    space = DenseHyperModel(input_shape=input_shape, num_classes=10, num_layers=(1, 10),
                            units=(1, 1024, 1), per_layer_units=False, learning_rate=None)
    hp = keras_tuner.HyperParameters()
    hp.Fixed("num_layers", depth)
    hp.Fixed("units", width)
    return space.build(hp)


def time_transfer(donor_shape, target_shape, repeats):
    donor, target = build(*donor_shape), build(*target_shape)
    probe = np.random.default_rng(0).normal(size=(32, 784)).astype("float32")
    morph.transfer(donor, target, seed=0)  # warm-up
    seconds, deviations = [], []
    for repeat in range(repeats):
        start = time.perf_counter()
        report = morph.transfer(donor, target, seed=repeat)
        seconds.append(time.perf_counter() - start)
        deviations.append(report.max_deviation)
    numpy_probe, keras_probe = [], []
    donor.predict_on_batch(probe)
    first = time.perf_counter()
    target.predict_on_batch(probe)
    keras_first = time.perf_counter() - first
    for _ in range(repeats):
        start = time.perf_counter()
        morph.forward(target, probe), morph.forward(donor, probe)
        numpy_probe.append(time.perf_counter() - start)
        start = time.perf_counter()
        target.predict_on_batch(probe), donor.predict_on_batch(probe)
        keras_probe.append(time.perf_counter() - start)
    return {
        "donor": f"{donor_shape[0]}x{donor_shape[1]}",
        "target": f"{target_shape[0]}x{target_shape[1]}",
        "ops": report.ops,
        "transfer_ms_median": 1000 * statistics.median(seconds),
        "transfer_ms_min": 1000 * min(seconds),
        "max_deviation": max(deviations),
        "probe_numpy_ms_median": 1000 * statistics.median(numpy_probe),
        "probe_predict_on_batch_ms_median": 1000 * statistics.median(keras_probe),
        "probe_predict_on_batch_first_call_ms": 1000 * keras_first,
    }


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, verbose=0, batch_size=1000), -1)
                         == np.argmax(y, -1)))


def warm_start(seed, parent_epochs, warm_epochs, cold_epochs, data):
    (x_train, y_train), (x_test, y_test) = data
    keras.utils.set_random_seed(seed)
    parent = build(2, 64)
    parent.fit(x_train, y_train, epochs=parent_epochs, batch_size=32, verbose=0)
    child = build(3, 128)
    report = morph.transfer(parent, child, seed=seed, probe=x_test[:256])
    parent_acc, child_acc0 = accuracy(parent, x_test, y_test), accuracy(child, x_test, y_test)
    start = time.perf_counter()
    child.fit(x_train, y_train, epochs=warm_epochs, batch_size=32, verbose=0)
    epoch_seconds = (time.perf_counter() - start) / warm_epochs
    warm_acc = accuracy(child, x_test, y_test)
    keras.utils.set_random_seed(seed + 1000)
    cold = build(3, 128)
    cold.fit(x_train, y_train, epochs=cold_epochs, batch_size=32, verbose=0)
    return {
        "seed": seed, "parent": parent_acc, "child_before_training": child_acc0,
        "child_warm": warm_acc, "child_cold": accuracy(cold, x_test, y_test),
        "transfer_ms": 1000 * report.seconds, "max_deviation": report.max_deviation,
        "child_epoch_seconds": epoch_seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, 1 seed, short training")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 21
    results = {"backend": keras.backend.backend(), "quick": args.quick, "timing": [
        time_transfer((2, 512), (4, 1024), repeats),
        time_transfer((1, 1), (10, 10), repeats),
    ]}
    for row in results["timing"]:
        print(f"transfer {row['donor']} -> {row['target']}: median {row['transfer_ms_median']:.1f} ms "
              f"(min {row['transfer_ms_min']:.1f}), max deviation {row['max_deviation']:.2e}; probe "
              f"numpy {row['probe_numpy_ms_median']:.1f} ms vs predict_on_batch "
              f"{row['probe_predict_on_batch_ms_median']:.1f} ms "
              f"(first call {row['probe_predict_on_batch_first_call_ms']:.0f} ms)", flush=True)
    data = load_mnist("mnist-5k")
    seeds = [0] if args.quick else [0, 1, 2, 3, 4]
    epochs = (2, 1, 2) if args.quick else (10, 3, 10)
    runs = []
    for seed in seeds:
        runs.append(warm_start(seed, *epochs, data))
        print(json.dumps(runs[-1]), flush=True)
    summary = {key: statistics.median(run[key] for run in runs) for key in
               ("parent", "child_before_training", "child_warm", "child_cold",
                "child_epoch_seconds")}
    summary["max_abs_parent_minus_child_before_points"] = 100 * max(
        abs(run["parent"] - run["child_before_training"]) for run in runs)
    summary["epochs"] = dict(zip(("parent", "warm", "cold"), epochs))
    results["warm_start"] = {"runs": runs, "median": summary}
    print("warm start (median):", json.dumps(summary), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
