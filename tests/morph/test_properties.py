"""Property tests: any dense chain, any sequence of morphs, keeps its function."""

import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from morph_factories import build_chain, infer, inputs

from kt_nasrepair import morph

# NOTE: fewer examples in the second-backend child run (test_backends.py): JAX compiles
# every new model, ~2 s each on 2 cores; the algebra itself is backend-independent.
_EXAMPLES = 4 if os.environ.get("KT_NASREPAIR_MORPH_BACKEND_SUBPROCESS") else 12
_SETTINGS = settings(max_examples=_EXAMPLES, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])

chains = st.fixed_dictionaries({
    "input_dim": st.integers(1, 12),
    "widths": st.lists(st.integers(1, 256), min_size=1, max_size=6),
    "batch_norm": st.booleans(),
    "dropout": st.sampled_from([None, 0.3]),
    "functional": st.booleans(),
})


def _steps(max_size):
    # ("widen", layer index, extra units) or ("deepen", layer index, unused)
    return st.lists(st.tuples(st.sampled_from(["widen", "deepen"]), st.integers(0, 10),
                              st.integers(0, 40)), min_size=1, max_size=max_size)


@_SETTINGS
@given(spec=chains, steps=_steps(4), seed=st.integers(0, 2**16))
def test_random_morph_sequences_keep_the_function(spec, steps, seed):
    model = build_chain(outputs=3, seed=seed, **spec)
    x = inputs(spec["input_dim"], n=8, seed=seed)
    reference = infer(model, x)
    morphed = model
    for op, index, extra in steps:
        widths = morph.hidden_widths(morphed)
        layer = index % len(widths)
        if op == "widen":
            morphed = morph.widen(morphed, layer, widths[layer] + extra, noise_std=0, seed=seed)
        else:
            morphed = morph.deepen(morphed, layer, noise_std=0)
    np.testing.assert_allclose(infer(morphed, x), reference, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(morph.forward(morphed, x), reference, atol=1e-5, rtol=1e-5)


@_SETTINGS
@given(spec=chains, extra_depth=st.integers(0, 3), extra_width=st.integers(0, 64),
       target_bn=st.booleans(), seed=st.integers(0, 2**16))
def test_transfer_to_any_wider_deeper_chain_keeps_the_function(
        spec, extra_depth, extra_width, target_bn, seed):
    donor = build_chain(outputs=3, seed=seed, **spec)
    widths = list(spec["widths"])
    target_widths = [w + extra_width for w in widths] + [widths[-1] + extra_width] * extra_depth
    target = build_chain(spec["input_dim"], target_widths, outputs=3, batch_norm=target_bn,
                         seed=seed + 1)
    x = inputs(spec["input_dim"], n=8, seed=seed)
    report = morph.transfer(donor, target, noise_std=morph.DEFAULT_NOISE_STD, seed=seed)
    assert report.max_deviation <= 1e-5
    np.testing.assert_allclose(infer(target, x), infer(donor, x), atol=1e-5, rtol=1e-5)
