"""EntropySearchOracle specifics: bad input."""

import pytest

from kt_nasrepair.oracles import EntropySearchOracle


@pytest.mark.parametrize(
    "argument, value",
    [("num_initial_points", 0), ("num_max_samples", 0), ("num_max_samples", -1),
     ("num_candidates", 0), ("num_initial_points", 1.5)],
)
def test_bad_counts_raise_naming_the_argument(argument, value):
    with pytest.raises(ValueError, match=f"`{argument}` must be an integer >= 1. Received: {argument}={value}"):
        EntropySearchOracle(**{argument: value})
