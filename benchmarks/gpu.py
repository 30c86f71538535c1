"""Compile time against training time per trial, for a GPU run (any Keras backend).

On an accelerator a small MLP trains an MNIST epoch in a fraction of a second, but every new
architecture is compiled before its first step. This script runs a small `RepairTuner` search
and reports, per trial, the first epoch's time (compile + train), the steady epoch time (median
of the others), the compile share and the samples per second, with the device name.

    KERAS_BACKEND=jax python benchmarks/gpu.py --dataset keras --max-trials 8 --epochs 4
    KERAS_BACKEND=jax python benchmarks/gpu.py --dataset keras --shape-stable off  # compile each

`--shape-stable` sets `DenseHyperModel(shape_stable=...)`: `on`/`auto` train every trial in one
padded network compiled once, `off` compiles each trial's own model (KerasTuner's way).

Writes `gpu.json` and `gpu.md` in `--out`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import kt_nasrepair  # noqa: E402
from kt_nasrepair.datasets import load_mnist  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    """Records each epoch's wall time; KerasTuner deep-copies callbacks, so the log is shared."""

    log: list = []  # class-level on purpose: survives the per-trial deepcopy

    def on_train_begin(self, logs=None):
        self.trial = len({entry["fit"] for entry in EpochTimer.log})

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        EpochTimer.log.append(
            {"fit": id(self), "trial": self.trial, "epoch": epoch,
             "seconds": time.perf_counter() - self.start}
        )


def device_name():
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            return f"{device.platform}: {getattr(device, 'device_kind', device)}"
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"cuda: {torch.cuda.get_device_name(0)}"
            return "cpu"
    except Exception as error:  # report, never crash a measurement run
        return f"unknown ({error})"
    return f"{backend} (device not queried)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="auto")
    parser.add_argument("--max-trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shape-stable", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--out", default="results/gpu")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    (x, y), _ = load_mnist(args.dataset)
    cut = int(0.9 * len(x))
    with tempfile.TemporaryDirectory() as directory:
        tuner = kt_nasrepair.RepairTuner(
            kt_nasrepair.DenseHyperModel.mnist_seed(
                input_shape=x.shape[1:],
                shape_stable={"auto": "auto", "on": True, "off": False}[args.shape_stable],
            ),
            objective="val_accuracy", max_trials=args.max_trials, strategy="quasi_random", seed=0,
            directory=directory, project_name="gpu",
        )
        start = time.perf_counter()
        tuner.search(x[:cut], y[:cut], epochs=args.epochs, batch_size=args.batch_size,
                     validation_data=(x[cut:], y[cut:]), callbacks=[EpochTimer()], verbose=0)
        total = time.perf_counter() - start
    rows = []
    for trial in sorted({e["trial"] for e in EpochTimer.log}):
        times = [e["seconds"] for e in EpochTimer.log if e["trial"] == trial]
        steady = statistics.median(times[1:]) if len(times) > 1 else float("nan")
        rows.append({
            "trial": trial,
            "first_epoch_s": times[0],
            "steady_epoch_s": steady,
            "compile_share": (times[0] - steady) / sum(times) if len(times) > 1 else None,
            "samples_per_s": cut / steady if steady == steady else None,
        })
    report = {"backend": keras.backend.backend(), "device": device_name(),
              "shape_stable": args.shape_stable,
              "train_samples": cut, "search_seconds": total, "trials": rows}
    with open(os.path.join(args.out, "gpu.json"), "w") as f:
        json.dump(report, f, indent=1)
    lines = [f"Device: {report['device']} (Keras backend {report['backend']}), "
             f"{cut} training samples, batch {args.batch_size}; search {total:.1f} s", "",
             "| trial | first epoch (s) | steady epoch (s) | compile share | samples/s |",
             "|---|---|---|---|---|"]
    for r in rows:
        share = "n/a" if r["compile_share"] is None else f"{r['compile_share']:.0%}"
        rate = "n/a" if r["samples_per_s"] is None else f"{r['samples_per_s']:.0f}"
        lines.append(f"| {r['trial']} | {r['first_epoch_s']:.3f} | {r['steady_epoch_s']:.3f} | "
                     f"{share} | {rate} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "gpu.md"), "w") as f:
        f.write(text)
    print(text)
    return report


if __name__ == "__main__":
    main()
