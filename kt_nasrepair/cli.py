"""The main job: a small offline architecture search on MNIST that prints a results table."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kt-nasrepair",
        description=(
            "Search the original MNIST example's space (1-10 hidden ReLU layers x 1-10 units) "
            "with RepairTuner (every trial warm-started from its best trained relative by "
            "Net2Net) and print every trial, its donor and the best model's test accuracy. "
            "The defaults run offline in a few minutes on 2 CPU cores."
        ),
    )
    parser.add_argument(
        "--dataset",
        default="mnist-5k",
        choices=["auto", "keras", "mnist-5k", "digits"],
        help="data source (see kt_nasrepair.datasets.load_mnist); default: mnist-5k (offline)",
    )
    parser.add_argument("--max-trials", type=int, default=10, help="trials to run (default 10)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial (default 3)")
    parser.add_argument(
        "--strategy",
        default="entropy",
        choices=["entropy", "random"],
        help="search strategy: Max-value Entropy Search or quasi-random (default entropy)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--directory",
        default=None,
        help="where KerasTuner keeps trials (default: a temporary directory)",
    )
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("max_trials", "epochs", "batch_size"):
        if getattr(args, name) < 1:
            print(f"error: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras

    from kt_nasrepair.datasets import load_mnist
    from kt_nasrepair.hypermodel import DenseHyperModel
    from kt_nasrepair.repair import RepairTuner
    from kt_nasrepair.report import results_table

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_mnist(args.dataset)
    hypermodel = DenseHyperModel.mnist_seed(input_shape=x_train.shape[1:])
    directory = args.directory or tempfile.mkdtemp(prefix="kt_nasrepair_")
    tuner = RepairTuner(
        hypermodel,
        objective="val_accuracy",
        max_trials=args.max_trials,
        strategy=args.strategy,
        seed=args.seed,
        directory=directory,
        project_name="main",
        overwrite=args.directory is None,
    )
    print(
        f"Searching {args.max_trials} architectures, {args.epochs} epochs each, "
        f"on {len(x_train)} training digits ({args.dataset}); trials in {directory}"
    )
    start = time.perf_counter()
    tuner.search(
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_split=0.2,
        verbose=0,
    )
    elapsed = time.perf_counter() - start
    lineage = tuner.lineage()
    donors = {trial_id: record["donor"] or "-" for trial_id, record in lineage.items()}
    print(results_table(tuner, extra_columns={"donor": donors}))
    best = tuner.get_best_models(1)[0]
    _, test_accuracy = best.evaluate(x_test, y_test, verbose=0)
    best_hp = tuner.get_best_hyperparameters(1)[0].values
    print(f"Best architecture: {best_hp}; test accuracy {test_accuracy:.4f}")
    print(f"Search time: {elapsed:.1f} s")
    return 0
