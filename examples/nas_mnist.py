"""Neural architecture search on MNIST: the original article's NAS example, done right.

The article searched 1-10 hidden ReLU layers x 1-10 units on MNIST with Adam, categorical
cross-entropy, batch 32 and 10 epochs per candidate. Its script did not run (it called
`layers.Sequential`, built 6 layers whatever the loop said and set weights on empty models);
this is what it meant, on KerasTuner.

    python examples/nas_mnist.py --quick            # offline smoke run, well under a minute
    python examples/nas_mnist.py --dataset keras    # the full search on the full MNIST
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_tuner  # noqa: E402

from kt_nasrepair import DenseHyperModel  # noqa: E402
from kt_nasrepair.datasets import load_mnist  # noqa: E402
from kt_nasrepair.report import results_table  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="auto",
                        choices=["auto", "keras", "mnist-5k", "digits"])
    parser.add_argument("--max-trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--directory", default="kt_runs")
    parser.add_argument("--quick", action="store_true",
                        help="tiny budget for smoke runs: mnist-5k, 3 trials, 1 epoch")
    args = parser.parse_args(argv)
    if args.quick:
        args.dataset, args.max_trials, args.epochs = "mnist-5k", 3, 1
    return args


def main(argv=None):
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = load_mnist(args.dataset)
    tuner = keras_tuner.RandomSearch(
        DenseHyperModel.mnist_seed(input_shape=x_train.shape[1:]),
        objective="val_accuracy",
        max_trials=args.max_trials,
        seed=args.seed,
        directory=args.directory,
        project_name=f"nas_mnist_{args.dataset}",
        overwrite=True,
    )
    tuner.search(x_train, y_train, epochs=args.epochs, batch_size=32,
                 validation_split=0.2, verbose=0)
    print(results_table(tuner))
    best_model = tuner.get_best_models(1)[0]
    _, test_accuracy = best_model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"Best: {tuner.get_best_hyperparameters(1)[0].values}, "
          f"test accuracy {test_accuracy:.4f}")


if __name__ == "__main__":
    main()
