"""Neural repair on MNIST: the original article's repair example, done right.

The article meant to reuse a trained network's weights when trying a new architecture instead of
training every candidate from scratch (its script set weights on empty models, so nothing was
reused). Here `RepairTuner` warm-starts every trial from the best finished trial with Net2Net
function-preserving growth, and `NeuralRepair` recycles dead units, recovers from non-finite
losses and grows a stalled network while it trains.

    python examples/repair_mnist.py --quick          # offline smoke run (4 trials x 1 epoch)
    python examples/repair_mnist.py --dataset keras --max-trials 20 --epochs 10  # the article's size
"""

from __future__ import annotations

from _common import load_data, parse_args, report_best, save_plots, tuner_location

from kt_nasrepair import cli


def main(argv=None):
    args = parse_args(__doc__.split("\n\n")[0], argv, prog="repair_mnist.py")
    # Imported after parsing, so --help and a bad flag answer without loading Keras.
    from kt_nasrepair import DenseHyperModel, NeuralRepair, RepairTuner
    from kt_nasrepair.report import results_table

    (x_train, y_train), (x_test, y_test) = load_data(args)
    tuner = RepairTuner(
        DenseHyperModel.mnist_seed(input_shape=x_train.shape[1:]),
        objective="val_accuracy",
        max_trials=args.max_trials,
        strategy=args.strategy,
        seed=args.seed,
        **tuner_location(args),
        project_name=f"repair_mnist_{args.strategy}_{args.dataset}",
    )
    repair = NeuralRepair(grow_on_plateau=True, monitor="val_accuracy", patience=3)
    cli.announce_resume(tuner)
    # verbose=0 mutes Keras's per-epoch output and KerasTuner's display; show_progress keeps
    # the one line per trial.
    tuner.show_progress = True
    tuner.search(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                 validation_split=0.2, callbacks=[repair], verbose=0)
    lineage = tuner.lineage()
    print(results_table(tuner, extra_columns={
        "donor": {t: r["donor"] or "-" for t, r in lineage.items()},
        "growth": {t: len(r["growth"]) for t, r in lineage.items()},
        "repaired": {t: (r.get("repairs") or {}).get("repaired_units", 0) for t, r in lineage.items()},
    }))
    report_best(tuner, x_test, y_test)
    save_plots(tuner, tuner.project_dir)
    return tuner


if __name__ == "__main__":
    main()
