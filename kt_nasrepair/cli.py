"""The main job (`python -m kt_nasrepair`, `kt-nasrepair`) and the flags it shares with the examples.

Arguments are parsed before Keras is imported, so `--help` and a bad flag answer at once; the
TensorFlow log level is set when this module is imported, before any backend can load.
"""

from __future__ import annotations

import os

# NOTE: before any import that may load TensorFlow; a value the user set is kept.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import math  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

DATASETS = ("auto", "keras", "mnist-5k", "digits")
STRATEGIES = ("entropy", "quasi_random")
# One set of defaults for the main job and the examples: offline, a few minutes on 2 CPU cores.
DEFAULTS = {
    "dataset": "mnist-5k",
    "max_trials": 10,
    "epochs": 3,
    "batch_size": 32,
    "strategy": "entropy",
    "seed": 0,
    "directory": None,
}
# What `--quick` changes; a flag given explicitly always wins over it. NOTE: 4 trials, because
# with the default seed the fourth is the first that a finished relative can grow into: the
# smoke run shows a warm start.
QUICK = {"max_trials": 4, "epochs": 1}
_POSITIVE = ("max_trials", "epochs", "batch_size")
VALIDATION_SPLIT = 0.2
# TensorFlow 2.21's native libraries each log this at load time, before TensorFlow reads
# TF_CPP_MIN_LOG_LEVEL (absl's "before InitializeLog" path): INFO lines, filtered by hand.
_NATIVE_INFO_LINE = re.compile(
    r"I\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
)

DESCRIPTION = (
    "Search the original MNIST example's space (1-10 hidden ReLU layers x 1-10 units) with "
    "RepairTuner (each trial warm-started from a trained relative by Net2Net when one it can "
    "grow from exists), print one line per finished trial, then every trial, its donor and "
    "the best model's test accuracy."
)


def build_parser(prog: str | None = None, description: str | None = None,
                 strategies=STRATEGIES) -> argparse.ArgumentParser:
    """The argument parser shared by the main job and the examples.

    Every flag's help shows its default (`ArgumentDefaultsHelpFormatter`); parse with
    `parse_args` so that `--quick` and the checks apply.

    Args:
        prog: Program name shown in the usage. Defaults to None (`kt-nasrepair`).
        description: Text shown under the usage. Defaults to the main job's.
        strategies: The `--strategy` choices. Defaults to `("entropy", "quasi_random")`.

    Returns:
        An `argparse.ArgumentParser`.
    """
    parser = argparse.ArgumentParser(
        prog=prog or "kt-nasrepair",
        description=description or DESCRIPTION,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--dataset", default=DEFAULTS["dataset"], choices=DATASETS,
        help="data source (kt_nasrepair.datasets.load_mnist): mnist-5k = 5,000 real MNIST "
             "digits (offline), keras = full MNIST, auto = full MNIST if available else "
             "mnist-5k, digits = scikit-learn's 8x8 digits",
    )
    parser.add_argument("--max-trials", type=int, default=DEFAULTS["max_trials"],
                        help="trials to run (in all, when resuming)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS["epochs"],
                        help="epochs per trial")
    parser.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"],
                        help="batch size")
    parser.add_argument("--strategy", default=DEFAULTS["strategy"], choices=tuple(strategies),
                        help="entropy = Max-value Entropy Search, quasi_random = Sobol search")
    parser.add_argument("--seed", type=int, default=DEFAULTS["seed"], help="random seed")
    parser.add_argument(
        "--directory", default=DEFAULTS["directory"],
        help="where the trials are kept (not given: a new temporary directory); a search "
             "already there is resumed",
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="smoke-run size: --max-trials {max_trials} --epochs {epochs}, unless given "
             "explicitly".format(**QUICK),
    )
    return parser


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """Parses `argv` with a `build_parser` parser: `--quick` sizes, then the checks.

    `--quick` replaces the defaults only: `--quick --epochs 5` trains 5 epochs per trial.
    A count below 1 exits with status 2 and a message naming the flag, as argparse does.

    Args:
        parser: A parser from `build_parser`.
        argv: The arguments. Defaults to None (`sys.argv[1:]`).

    Returns:
        The parsed `argparse.Namespace`.
    """
    args = parser.parse_args(argv)
    if args.quick:
        # Quick sizes become the defaults and the line is parsed again: what the user typed wins.
        parser.set_defaults(**QUICK)
        args = parser.parse_args(argv)
    for name in _POSITIVE:
        value = getattr(args, name)
        if value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1. Received: {value}")
    return args


def prepare_directory(directory: str | None) -> tuple[str, bool]:
    """Where the trials go, and whether an existing search there may be resumed.

    Args:
        directory: `--directory`, or None for a new temporary directory.

    Returns:
        `(directory, overwrite)`: a temporary directory is always new (`overwrite=True`); a
        given one is kept and resumed (`overwrite=False`).
    """
    if directory is None:
        return tempfile.mkdtemp(prefix="kt_nasrepair_"), True
    return directory, False


def announce_resume(tuner) -> int:
    """Prints whether the tuner resumes a search, and how many trials were already done.

    Args:
        tuner: A `keras_tuner.Tuner` just constructed (with `overwrite=False`).

    Returns:
        The number of trials already finished (completed, failed or invalid).
    """
    trials = getattr(tuner.oracle, "trials", None) or {}
    done = sum(t.status in ("COMPLETED", "FAILED", "INVALID") for t in trials.values())
    if done:
        total = tuner.oracle.max_trials
        left = max(total - done, 0) if total is not None else "?"
        print(f"Resuming the search in {tuner.project_dir}: {done} trials already done, "
              f"{left} left of {total}.")
    return done


@contextlib.contextmanager
def native_startup_log_filtered():
    """Drops the INFO lines TensorFlow's native libraries print at load time, when muted.

    TensorFlow 2.21 prints its oneDNN notice once per native library it loads (twice), before
    its logging reads `TF_CPP_MIN_LOG_LEVEL`, so the level set at import does not reach them.
    While the backend is imported, the process's stderr goes to a temporary file; afterwards
    every line is written back except those INFO lines (only when the level mutes INFO, i.e.
    `TF_CPP_MIN_LOG_LEVEL >= 1`). Warnings and errors are kept, in order.
    """
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip()
    if not level.isdigit() or int(level) < 1:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(True)
                    if not _NATIVE_INFO_LINE.match(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


def describe_split(num_samples: int, validation_split: float = VALIDATION_SPLIT) -> str:
    """`"3200 training and 800 validation"`: how Keras's `validation_split` cuts the data.

    Keras keeps the first `floor(n * (1 - validation_split))` samples for training and
    validates on the rest.
    """
    num_train = int(math.floor(num_samples * (1.0 - validation_split)))
    return f"{num_train} training and {num_samples - num_train} validation"


def warm_summary(lineage: dict) -> str:
    """`"1 of 4 trials warm-started"`, from `tuner.lineage()`."""
    warm = sum(record.get("donor") is not None for record in lineage.values())
    return f"{warm} of {len(lineage)} trials warm-started"


def main(argv=None) -> int:
    """Runs the main job; returns the exit status.

    A temporary directory made for the trials (no `--directory`) is removed at the end.
    """
    args = parse_args(build_parser(), argv)
    directory, overwrite = prepare_directory(args.directory)
    try:
        return _search(args, directory, overwrite)
    finally:
        if args.directory is None:
            shutil.rmtree(directory, ignore_errors=True)


def _search(args, directory, overwrite) -> int:
    with native_startup_log_filtered():
        import keras

        from kt_nasrepair.datasets import load_mnist
        from kt_nasrepair.hypermodel import DenseHyperModel
        from kt_nasrepair.repair import RepairTuner
        from kt_nasrepair.report import results_table

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_mnist(args.dataset)
    hypermodel = DenseHyperModel.mnist_seed(input_shape=x_train.shape[1:])
    tuner = RepairTuner(
        hypermodel,
        objective="val_accuracy",
        max_trials=args.max_trials,
        strategy=args.strategy,
        seed=args.seed,
        directory=directory,
        project_name="main",
        overwrite=overwrite,
    )
    done = announce_resume(tuner)
    left = max(args.max_trials - done, 0)
    if left:
        where = (f"trials in {tuner.project_dir}" if args.directory is not None else
                 "trials in a temporary directory, removed at the end (keep them: --directory)")
        print(
            f"Searching {left}{' more' if done else ''} architectures, {args.epochs} "
            f"epoch{'s' if args.epochs > 1 else ''} each, on {describe_split(len(x_train))} "
            f"digits ({args.dataset}; {len(x_test)} test digits held out); {where}"
        )
    # verbose=0 mutes Keras's per-epoch output and KerasTuner's display; show_progress keeps
    # the one line per trial.
    tuner.show_progress = True
    tuner.search(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                 validation_split=VALIDATION_SPLIT, verbose=0)
    lineage = tuner.lineage()
    donors = {trial_id: record["donor"] or "-" for trial_id, record in lineage.items()}
    print(results_table(tuner, extra_columns={"donor": donors}))
    print(warm_summary(lineage) + " (Net2Net from a finished relative; the others cold)")
    best = tuner.get_best_models(1)[0]
    _, test_accuracy = best.evaluate(x_test, y_test, verbose=0)
    best_hp = tuner.get_best_hyperparameters(1)[0].values
    print(f"Best architecture: {best_hp}; test accuracy {test_accuracy:.4f}")
    return 0
