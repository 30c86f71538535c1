"""Neural architecture search on MNIST: the original article's NAS example, done right.

The article searched 1-10 hidden ReLU layers x 1-10 units on MNIST with Adam, categorical
cross-entropy, batch 32 and 10 epochs per candidate. Its script did not run (it called
`layers.Sequential`, built 6 layers whatever the loop said and set weights on empty models);
this is what it meant, on KerasTuner, with this project's oracles.

    python examples/nas_mnist.py --quick                      # offline smoke run
    python examples/nas_mnist.py --strategy quasi_random --dataset keras --max-trials 20 --epochs 10
"""

from __future__ import annotations

from _common import load_data, parse_args, report_best, save_plots, tuner_location

from kt_nasrepair import cli


def main(argv=None):
    args = parse_args(__doc__.split("\n\n")[0], argv, prog="nas_mnist.py")
    # Imported after parsing, so --help and a bad flag answer without loading Keras.
    from kt_nasrepair import DenseHyperModel
    from kt_nasrepair.oracles import EntropySearch, QuasiRandomSearch
    from kt_nasrepair.progress import with_progress
    from kt_nasrepair.report import results_table

    (x_train, y_train), (x_test, y_test) = load_data(args)
    # with_progress: one line per finished trial and a closing summary, as RepairTuner.
    tuner_class = with_progress(EntropySearch if args.strategy == "entropy" else QuasiRandomSearch)
    tuner = tuner_class(
        DenseHyperModel.mnist_seed(input_shape=x_train.shape[1:]),
        objective="val_accuracy",
        max_trials=args.max_trials,
        seed=args.seed,
        **tuner_location(args),
        project_name=f"nas_mnist_{args.strategy}_{args.dataset}",
    )
    cli.announce_resume(tuner)
    # verbose=0 mutes Keras's per-epoch output and KerasTuner's display; show_progress keeps
    # the one line per trial.
    tuner.show_progress = True
    tuner.search(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                 validation_split=0.2, verbose=0)
    print(results_table(tuner))
    report_best(tuner, x_test, y_test)
    save_plots(tuner, tuner.project_dir)
    return tuner


if __name__ == "__main__":
    main()
