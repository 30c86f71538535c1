"""Flags and data shared by the MNIST examples: the main job's parser, defaults and `--quick`."""

from __future__ import annotations

import os

# Imported before Keras: sets the TensorFlow log level and parses without loading a backend.
from kt_nasrepair import cli


def parse_args(description, argv=None, prog=None):
    """The main job's flags and defaults (`kt_nasrepair.cli.build_parser`), with `--quick`."""
    parser = cli.build_parser(prog=prog, description=description)
    args = cli.parse_args(parser, argv)
    # The backend loads now, after --help could answer, with TensorFlow's load-time INFO lines
    # filtered as in the main job.
    with cli.native_startup_log_filtered():
        import keras  # noqa: F401
        import keras_tuner  # noqa: F401
    return args


def load_data(args):
    import keras

    from kt_nasrepair.datasets import load_mnist

    keras.utils.set_random_seed(args.seed)
    return load_mnist(args.dataset)


def tuner_location(args):
    """`directory` and `overwrite` for the tuner: a new temporary directory, or resume `--directory`."""
    directory, overwrite = cli.prepare_directory(args.directory)
    return {"directory": directory, "overwrite": overwrite}


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
