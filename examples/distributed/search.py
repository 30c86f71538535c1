"""One search script for every process of a distributed (or single-process) search.

KerasTuner's distributed mode runs the same script in every process; three environment
variables choose the role (see docs/guides/distributed.md):

    KERASTUNER_TUNER_ID=chief  KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \
        python examples/distributed/search.py --directory runs
    KERASTUNER_TUNER_ID=tuner0 KERASTUNER_ORACLE_IP=127.0.0.1 KERASTUNER_ORACLE_PORT=8000 \
        python examples/distributed/search.py --directory runs

Without those variables it is an ordinary search that resumes where it stopped
(`overwrite=False`): kill it and run it again.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import kt_nasrepair  # noqa: E402
from kt_nasrepair import DenseHyperModel  # noqa: E402
from kt_nasrepair.datasets import load_mnist  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--directory", required=True, help="shared KerasTuner directory")
    parser.add_argument("--project-name", default="distributed")
    parser.add_argument("--strategy", default="entropy", choices=["entropy", "quasi_random"])
    parser.add_argument("--dataset", default="mnist-5k",
                        choices=["auto", "keras", "mnist-5k", "digits"])
    parser.add_argument("--max-trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--donor-pool", type=float, default=0.5)
    parser.add_argument(
        "--space", default="dense", choices=["dense", "training"],
        help="dense: 1-2 hidden layers x 8-64 units; training: a fixed 2x32 network with "
             "tuned learning rate and dropout, so every trial can warm-start from any other")
    parser.add_argument(
        "--shape-stable", default="auto", choices=["auto", "on", "off"],
        help="DenseHyperModel(shape_stable=...): every trial in one network compiled once")
    parser.add_argument(
        "--population", default="auto",
        help="RepairTuner(population=...): how many trials each worker trains at once")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    (x, y), _ = load_mnist(args.dataset)
    cut = int(0.8 * len(x))
    shape_stable = {"auto": "auto", "on": True, "off": False}[args.shape_stable]
    if args.space == "dense":
        hypermodel = DenseHyperModel(
            input_shape=x.shape[1:], num_classes=10, num_layers=(1, 2), units=(8, 64, 8),
            per_layer_units=False, learning_rate=None, shape_stable=shape_stable,
        )
    else:
        hypermodel = DenseHyperModel(
            input_shape=x.shape[1:], num_classes=10, num_layers=(2, 2), units=[32],
            per_layer_units=False, dropout=(0.0, 0.5), learning_rate=(1e-3, 1e-2),
            shape_stable=shape_stable,
        )
    tuner = kt_nasrepair.RepairTuner(
        hypermodel,
        objective="val_accuracy",
        max_trials=args.max_trials,
        strategy=args.strategy,
        donor_pool=args.donor_pool,
        seed=args.seed,
        population=args.population if args.population == "auto" else int(args.population),
        directory=args.directory,
        project_name=args.project_name,
        overwrite=False,
    )
    tuner.search(x[:cut], y[:cut], epochs=args.epochs, validation_data=(x[cut:], y[cut:]),
                 verbose=0)
    role = os.environ.get("KERASTUNER_TUNER_ID", "tuner0")
    print(f"{role}: search finished", flush=True)


if __name__ == "__main__":
    main()
