"""Flags and data shared by the MNIST examples."""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(description, argv=None, strategies=("random", "entropy"), default_strategy="random"):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", default="auto",
                        choices=["auto", "keras", "mnist-5k", "digits"],
                        help="data source (default: auto, offline fallback to mnist-5k)")
    parser.add_argument("--strategy", default=default_strategy, choices=strategies,
                        help=f"search strategy (default: {default_strategy})")
    parser.add_argument("--max-trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--directory", default="kt_runs", help="where trials are kept")
    parser.add_argument("--quick", action="store_true",
                        help="tiny budget for smoke runs: mnist-5k, 3 trials, 1 epoch")
    args = parser.parse_args(argv)
    if args.quick:
        args.dataset, args.max_trials, args.epochs = "mnist-5k", 3, 1
    return args


def load_data(args):
    import keras

    from kt_nasrepair.datasets import load_mnist

    keras.utils.set_random_seed(args.seed)
    return load_mnist(args.dataset)


def save_plots(tuner, directory):
    from kt_nasrepair import plot

    history = plot.search_history(tuner, os.path.join(directory, "search_history.png"))
    tree = plot.lineage(tuner, os.path.join(directory, "lineage.png"))
    print(f"Plots: {history}, {tree}")


def report_best(tuner, x_test, y_test):
    best_model = tuner.get_best_models(1)[0]
    _, test_accuracy = best_model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"Best: {tuner.get_best_hyperparameters(1)[0].values}, "
          f"test accuracy {test_accuracy:.4f}")
    return test_accuracy
