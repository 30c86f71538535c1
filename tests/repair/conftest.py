"""These tests check one trial at a time: `population="auto"` resolves to 1 here.

Trials trained together are tested in `test_population.py`, which passes `population`
explicitly (an explicit value is never changed by this fixture).
"""

import pytest


@pytest.fixture(autouse=True)
def _one_trial_at_a_time(monkeypatch):
    from kt_nasrepair.repair import mixin

    monkeypatch.setattr(mixin, "auto_population_size", lambda backend, max_trials=None: 1)
