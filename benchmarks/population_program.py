"""A population program's fixed cost: build, trace and compile, against its epochs.

Times `PopulationDenseModel` alone (no tuner): K members of `depth` x `width` on 4,000
random 784-feature samples with 1,000 validation samples, batch 32, one call an epoch (as a
search runs it). Each repeat is a fresh process, so every first epoch pays the trace and
the compile. Prints, per setting, the median over repeats of:

- `first epoch`: the first `fit` of one epoch (trace, compile, the epoch, its validation);
- `epoch`: an epoch of a second `fit` of 3 epochs (the compiled program), per epoch.

    python benchmarks/population_program.py                       # K=5, 10 x 10, the seed space
    python benchmarks/population_program.py --xla 0 1 --repeats 5
    PYTHONPATH=<a checkout of another commit> python benchmarks/population_program.py  # compare

Run it under `KERAS_BACKEND=jax` for JAX (which always compiles; `--xla` has no effect).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_one(members, depth, width, xla):
    """One fresh program: (first epoch, steady epoch) seconds."""
    import keras
    import numpy as np

    from kt_nasrepair.shape_stable.population import PopulationDenseModel

    rng = np.random.default_rng(0)
    x = rng.random((5000, 784), dtype="float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, 5000), 10)
    (x_train, y_train), (x_val, y_val) = (x[:4000], y[:4000]), (x[4000:], y[4000:])
    member = keras.Sequential([keras.Input((784,)), keras.layers.Dense(width, "relu"),
                               keras.layers.Dense(10, "softmax")])
    member.compile("adam", "crossentropy", ["accuracy"])
    program = PopulationDenseModel(members, (784,), "relu", False, 10, "softmax", depth, width)
    program.compile_members(member.get_compile_config(), steps_per_execution=125, xla=xla)
    data = dict(batch_size=32, verbose=0,
                validation_data=(x_val, program.targets(y_val)))
    start = time.perf_counter()
    program.fit(x_train, program.targets(y_train), epochs=1, **data)
    first = time.perf_counter() - start
    start = time.perf_counter()
    program.fit(x_train, program.targets(y_train), epochs=3, **data)
    return first, (time.perf_counter() - start) / 3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[5])
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--width", type=int, default=10)
    parser.add_argument("--xla", type=int, nargs="+", default=[1], choices=[0, 1])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=4, type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(*args.one[:3], bool(args.one[3]))))
        return
    import keras

    print(f"backend {keras.backend.backend()}; depth {args.depth}, width {args.width}; "
          f"median of {args.repeats} processes")
    print("| K | XLA | first epoch, s (median, min-max) | epoch, s (median) |")
    print("|---|---|---|---|")
    for members in args.members:
        for xla in args.xla:
            runs = []
            for _ in range(args.repeats):
                out = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--one", str(members),
                     str(args.depth), str(args.width), str(xla)],
                    check=True, capture_output=True, text=True).stdout
                runs.append(json.loads(out.strip().splitlines()[-1]))
            first = [r[0] for r in runs]
            print(f"| {members} | {bool(xla)} | {statistics.median(first):.2f} "
                  f"({min(first):.2f}-{max(first):.2f}) | "
                  f"{statistics.median(r[1] for r in runs):.3f} |", flush=True)


if __name__ == "__main__":
    main()
