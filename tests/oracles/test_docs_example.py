"""The subclassing example of docs/guides/custom_oracle.md runs and is used."""

import pathlib
import re

import keras_tuner
import numpy as np

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "guides" / "custom_oracle.md"


def load_example():
    text = DOC.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    source = next(b for b in blocks if "class UpperConfidenceBoundOracle" in b)
    namespace = {}
    exec(compile(source, str(DOC), "exec"), namespace)
    return namespace["UpperConfidenceBoundOracle"]


def test_docs_subclass_replaces_only_the_acquisition(drive_oracle):
    oracle_cls = load_example()
    hps = keras_tuner.HyperParameters()
    hps.Float("x", 0.0, 1.0)
    oracle = oracle_cls(
        objective="loss", max_trials=10, seed=1, hyperparameters=hps,
        num_initial_points=3, num_candidates=64, beta=4.0,
    )
    calls = []
    original = oracle.acquisition

    def spy(surrogate, features, max_values):
        scores = original(surrogate, features, max_values)
        calls.append(len(scores))
        return scores

    oracle.acquisition = spy
    drive_oracle(oracle, lambda v: {"loss": (v["x"] - 0.7) ** 2}, 10)
    assert calls  # the overridden acquisition drove the GP phase
    best = oracle.get_best_trials(1)[0]
    np.testing.assert_allclose(best.hyperparameters.values["x"], 0.7, atol=0.03)
    assert oracle.beta == 4.0
