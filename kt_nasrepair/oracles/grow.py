"""`GrowOracle`: a search that grows its next trials from its best ones.

References:
    Elsken, T., Metzen, J. H. & Hutter, F. (2017). Simple and efficient architecture
    search for convolutional neural networks (NASH). arXiv:1711.04528.
    Jin, H., Song, Q. & Hu, X. (2019). Auto-Keras: an efficient neural architecture
    search system. KDD.
    Snoek, J., Larochelle, H. & Adams, R. P. (2012). Practical Bayesian Optimization of
    Machine Learning Algorithms (expected improvement per second). NeurIPS.
"""

from __future__ import annotations

import math

import numpy as np
import threadpoolctl
from keras_tuner.engine import trial as trial_module

from kt_nasrepair._validation import check, is_int, is_number
from kt_nasrepair.oracles import _grow_acquisition as acq
from kt_nasrepair.oracles._base import MAX_DRAWS, BaseSearchOracle
from kt_nasrepair.oracles._encoding import values_hash
from kt_nasrepair.oracles._gp import GaussianProcessSurrogate
from kt_nasrepair.oracles._growth import GrowthSpace
from kt_nasrepair.oracles._reachability import is_activation_name
from kt_nasrepair.oracles._sampling import sobol_points

# NOTE: each architecture move is tried with the parent's other values and with this
# many perturbations of them (sd 0.1 in the probability space, as EntropySearchOracle's
# local candidates); unordered choices are resampled with probability 0.25.
_NUM_PERTURBATIONS = 3
_PERTURB_SD = 0.1
_RESAMPLE_PROBABILITY = 0.25

KINDS = ("seed", "grow", "explore", "cold")


class GrowOracle(BaseSearchOracle):
    """Grows the best trials by one or two Net2Net steps, priced by gain per second.

    1. **Seeds.** Until `num_initial_points` trials have completed, proposals are cold
       quasi-random (Sobol) points whose growable coordinates (depth and widths) are
       drawn in the lower `initial_fraction` of their range: small networks to grow from.
    2. **Exploration.** Afterwards, with probability `explore_probability` (a seeded draw
       per proposal) the proposal is a cold quasi-random point of the whole space, so
       the search cannot lock in on one lineage.
    3. **Growth.** Otherwise the parents are the best `top_fraction` of the completed
       trials (at least one). Each parent's neighbours are the configurations one or two
       steps away: a width one grid step up, or one more layer as wide as the last,
       each with the parent's other values (learning rate, dropout, ...) kept or
       perturbed; a parent with other tunable values also offers perturbations of them
       at its own architecture. Only neighbours that the parent's trained model can be
       grown into (`dense_reachable`, the hyperparameter form of
       `kt_nasrepair.morph.can_transfer`) are kept. `num_cold_candidates` Sobol points
       compete with them.
    4. **Acquisition.** Each candidate x is scored

           a(x) = EI(x) / c(x),  EI(x) = (mu - y+) Phi(z) + sigma phi(z),
           z = (mu - y+) / sigma,  c(x) = rho * (alpha + beta * P(x)),

       with mu, sigma the posterior of a Gaussian process on the encoded
       hyperparameters (`_gp.py`, kriging-believer fantasies for running trials),
       y+ the best score, P(x) the hidden layers' parameter count, alpha, beta >= 0
       a line fitted to the measured seconds of the cold trials, and rho =
       `warm_cost_ratio` for a grown child (it starts from trained weights and, under
       `RepairTuner`'s budgeted warm trials, trains less), 1 for a cold candidate. The
       best untried candidate is proposed. A large growth is chosen only when its
       predicted gain pays for its predicted seconds.

    Per trial the oracle records the kind of proposal ("seed", "grow", "explore",
    "cold") and the completed trial it grew from (`parent_of`), in its own state: the
    trial's values stay the user's hyperparameters. A tuner should warm-start a
    "grow" trial from `parent_of(trial_id)`.

    **Assumptions.** The growable hyperparameters are found by name: `num_layers_name`
    (the depth), `units_name` (one shared width) or `units_name + "_0"`, `"_1"`, ... (a
    width per layer, `units_i` active when depth > i), and `activation_name` (or the fixed
    `activation`). The models they build are a chain of Dense layers of these widths
    with one hidden activation, as `DenseHyperModel` builds; every other
    hyperparameter must leave the architecture unchanged. A space without these names
    still works: growth then only perturbs values around the best trials.

    The cost model uses wall-clock durations, so two runs of the same search can differ
    when durations differ (as with `EntropySearchOracle(cost_aware=True)`); a reloaded
    search continues from the saved state.

    Args:
        objective: a string, `keras_tuner.Objective` or list of them. Defaults to None.
        max_trials: integer >= 1 (or None). Defaults to 10.
        num_initial_points: integer >= 1, completed seed trials before growing.
            Defaults to 5.
        explore_probability: number in [0, 1], the share of cold exploration proposals
            after the seeds. Defaults to 0.2.
        warm_cost_ratio: number in (0, 1], the predicted cost of a grown child relative
            to the same configuration trained cold. Defaults to 0.4.
        top_fraction: number in (0, 1], the share of completed trials that may be
            parents. Defaults to 0.25.
        initial_fraction: number in (0, 1], the lower part of each growable range the
            seeds are drawn from. Defaults to 1/3.
        num_cold_candidates: integer >= 0, Sobol candidates competing with the grown
            ones in the acquisition. Defaults to 64.
        activation: the hidden activation when `activation_name` is not a
            hyperparameter. Defaults to "relu" (DenseHyperModel's default).
        input_units: optional integer >= 1, the input features of the first Dense
            layer, counted in P(x). Defaults to None (not counted).
        num_layers_name: the depth hyperparameter's name. Defaults to "num_layers".
        units_name: the shared width's name, or the prefix of the per-layer widths.
            Defaults to "units".
        activation_name: the hidden activation's name. Defaults to "activation".
        seed: optional integer seed.
        sampler: "sobol" (default) or "uniform", for seeds and exploration points.
        hyperparameters: as for any KerasTuner oracle; so are `allow_new_entries`,
            `tune_new_entries`, `max_retries_per_trial` and
            `max_consecutive_failed_trials`.

    Raises:
        ValueError: for an argument out of its range, naming it.
        TypeError: for `hyperparameters` that are not a `keras_tuner.HyperParameters`.

    Example:

    ```python
    oracle = GrowOracle(objective="val_accuracy", max_trials=30, seed=1)
    tuner = kt_nasrepair.RepairTuner(hypermodel, oracle=oracle)
    oracle.parent_of("07")  # "03": grown from trial 03
    ```
    """

    def __init__(
        self,
        *,
        objective=None,
        max_trials=10,
        num_initial_points=5,
        explore_probability=0.2,
        warm_cost_ratio=0.4,
        top_fraction=0.25,
        initial_fraction=1 / 3,
        num_cold_candidates=64,
        activation="relu",
        input_units=None,
        num_layers_name="num_layers",
        units_name="units",
        activation_name="activation",
        seed=None,
        sampler="sobol",
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
    ):
        check(is_int(num_initial_points) and num_initial_points >= 1,
              "num_initial_points", num_initial_points, "an integer >= 1")
        check(is_number(explore_probability) and 0 <= explore_probability <= 1,
              "explore_probability", explore_probability, "a number in [0, 1]")
        for name, value in (("warm_cost_ratio", warm_cost_ratio),
                            ("top_fraction", top_fraction),
                            ("initial_fraction", initial_fraction)):
            check(is_number(value) and 0 < value <= 1, name, value, "a number in (0, 1]")
        check(is_int(num_cold_candidates) and num_cold_candidates >= 0,
              "num_cold_candidates", num_cold_candidates, "an integer >= 0")
        check(input_units is None or (is_int(input_units) and input_units >= 1),
              "input_units", input_units, "None or an integer >= 1")
        for name, value in (("num_layers_name", num_layers_name),
                            ("units_name", units_name),
                            ("activation_name", activation_name)):
            check(isinstance(value, str) and bool(value), name, value, "a non-empty string")
        check(is_activation_name(activation), "activation", activation,
              "a Keras activation name, e.g. 'relu'")
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            sampler=sampler,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        self.num_initial_points = int(num_initial_points)
        self.explore_probability = float(explore_probability)
        self.warm_cost_ratio = float(warm_cost_ratio)
        self.top_fraction = float(top_fraction)
        self.initial_fraction = float(initial_fraction)
        self.num_cold_candidates = int(num_cold_candidates)
        self.activation = activation
        self.input_units = None if input_units is None else int(input_units)
        self.names = dict(num_layers_name=num_layers_name, units_name=units_name,
                          activation_name=activation_name)
        # trial_id -> {"kind": one of KINDS, "parent": trial_id or None}.
        self._proposals = {}
        self._theta = None

    # ------------------------------------------------------------------ public
    def parent_of(self, trial_id) -> str | None:
        """The completed trial `trial_id` was grown from, or None (seed or cold)."""
        return self._proposals.get(str(trial_id), {}).get("parent")

    def proposal_kind(self, trial_id) -> str | None:
        """The kind of proposal ("seed", "grow", "explore", "cold"), or None if unknown."""
        return self._proposals.get(str(trial_id), {}).get("kind")

    def growth_space(self) -> GrowthSpace:
        """The growable hyperparameters of the current space."""
        return GrowthSpace(self.hyperparameters, activation=self.activation, **self.names)

    # --------------------------------------------------------------- the loop
    def populate_space(self, trial_id):
        """Proposes a seed, an exploration point or the best grown neighbour.

        Args:
            trial_id: the id of the trial being created.

        Returns:
            `{"status": "RUNNING", "values": {...}}`, or status "STOPPED" when every
            configuration has been tried.
        """
        # NOTE: single-threaded BLAS, as in EntropySearchOracle (small matrices).
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            values, kind, parent = self._propose()
        if values is None:
            return {"status": trial_module.TrialStatus.STOPPED, "values": None}
        self._proposals[str(trial_id)] = {"kind": kind, "parent": parent}
        return {"status": trial_module.TrialStatus.RUNNING, "values": values}

    def _propose(self):
        encoder = self.make_encoder()
        space = self.growth_space()
        completed = self._completed()
        if len(completed) < self.num_initial_points or encoder.num_probs == 0:
            values = self._seed_values(encoder, space)
            return values, "seed", None
        rng = self.next_rng()
        if rng.uniform() < self.explore_probability:
            values = self.quasi_random_values(encoder)
            if values is not None:
                return values, "explore", None
        choice = self._grow(encoder, space, completed, rng)
        if choice is not None:
            return choice
        # No untried neighbour and no cold candidate left among the drawn ones.
        return self.quasi_random_values(encoder), "cold", None

    def _completed(self):
        # Start order, not dict order: a reloaded oracle reads trials back in
        # file-system order (see EntropySearchOracle).
        ordered = [self.trials[i] for i in self.start_order if i in self.trials]
        return [
            t for t in ordered
            if t.status == trial_module.TrialStatus.COMPLETED
            and t.score is not None and np.isfinite(t.score)
        ]

    def _seed_values(self, encoder, space):
        """An untried Sobol point with growable coordinates in their lower part."""
        small = np.array([hp.name in space.growable for hp in encoder.tunable], dtype=bool)
        for _ in range(MAX_DRAWS):
            probs = self._sampler.draw(encoder.num_probs)
            probs[small] *= self.initial_fraction
            values = encoder.probs_to_values(probs)
            if not self._duplicate(values):
                return values
        # The lower part is used up: anywhere in the space.
        return self.quasi_random_values(encoder)

    def _grow(self, encoder, space, completed, rng):
        sign = 1.0 if self.objective.direction == "max" else -1.0
        y = sign * np.array([float(t.score) for t in completed])
        x = np.array([encoder.encode(t.hyperparameters.values) for t in completed])
        candidates = self._candidates(encoder, space, completed, y, rng)
        if not candidates:
            return None
        surrogate = self._fit_surrogate(encoder, x, y, rng)
        features = np.array([encoder.encode(values) for values, _ in candidates])
        mean, std = surrogate.predict(features)
        gain = acq.expected_improvement(mean, std, float(np.max(y)))
        alpha, beta = self._cost_line(space)
        parameters = [space.parameter_count(values, self.input_units)
                      for values, _ in candidates]
        ratio = [self.warm_cost_ratio if parent is not None else 1.0
                 for _, parent in candidates]
        score = gain / acq.predicted_cost(parameters, alpha, beta, ratio)
        best = int(np.argmax(score))
        values, parent = candidates[best]
        return values, ("grow" if parent is not None else "cold"), parent

    def _candidates(self, encoder, space, completed, y, rng):
        """[(values, parent_id or None)]: untried, distinct, grown ones first."""
        count = max(1, math.ceil(self.top_fraction * len(completed)))
        parents = [completed[i] for i in np.argsort(-y, kind="stable")[:count]]
        free = [i for i, hp in enumerate(encoder.tunable) if hp.name not in space.fixed]
        found, seen = [], set()

        def add(values, parent):
            key = values_hash(values)
            if key not in seen and not self._duplicate(values):
                seen.add(key)
                found.append((values, parent))

        for parent in parents:
            base = encoder._active_values(dict(parent.hyperparameters.values))
            moves = space.neighbours(base)
            if free:
                moves = [{}] + moves
            for move in moves:
                variants = [{}] if move else []
                variants += [self._perturb(encoder, base, free, rng)
                             for _ in range(_NUM_PERTURBATIONS if free else 0)]
                for variant in variants:
                    values = encoder._active_values({**base, **variant, **move})
                    if space.reachable(base, values):
                        add(values, parent.trial_id)
        if self.num_cold_candidates:
            for probs in sobol_points(self.num_cold_candidates, encoder.num_probs, rng):
                add(encoder.probs_to_values(probs), None)
        return found

    def _perturb(self, encoder, base, free, rng) -> dict:
        probs = encoder.values_to_probs(base)
        changed = {}
        for i in free:
            hp = encoder.tunable[i]
            if encoder._one_hot(hp):
                if rng.uniform() < _RESAMPLE_PROBABILITY:
                    changed[hp.name] = hp.values[int(rng.integers(len(hp.values)))]
                continue
            prob = float(np.clip(probs[i] + rng.normal(scale=_PERTURB_SD), 0.0, 1 - 1e-9))
            changed[hp.name] = hp.prob_to_value(prob)
        return changed

    def _fit_surrogate(self, encoder, x, y, rng):
        # NOTE: a random restart of the ML-II fit only every fifth proposal, from the
        # previous fit otherwise (as EntropySearchOracle; theta is part of the state).
        restarts = 1 if self._theta is None or self._num_proposals % 5 == 0 else 0
        surrogate = GaussianProcessSurrogate(
            num_restarts=restarts, seed=int(rng.integers(2**31 - 1))
        ).fit(x, y, theta=self._theta)
        self._theta = [float(v) for v in surrogate.theta]
        pending = [t for t in self.ongoing_trials.values()
                   if t.status == trial_module.TrialStatus.RUNNING]
        if not pending:
            return surrogate
        # Kriging believer (Ginsbourger et al. 2010): running trials are data at their
        # predicted mean, so parallel workers are sent to different places.
        x_pending = np.array([encoder.encode(t.hyperparameters.values) for t in pending])
        y_pending, _ = surrogate.predict(x_pending)
        return GaussianProcessSurrogate(seed=surrogate.seed).fit(
            np.vstack([x, x_pending]), np.concatenate([y, y_pending]),
            theta=surrogate.theta, optimize=False,
        )

    def _cost_line(self, space):
        """(alpha, beta) of seconds ~ alpha + beta * P over the timed cold trials."""
        durations = self.trial_durations()
        timed = [
            (trial_id, seconds) for trial_id, seconds in sorted(durations.items())
            if trial_id in self.trials
            and self.trials[trial_id].status == trial_module.TrialStatus.COMPLETED
            and self.parent_of(trial_id) is None
        ]
        parameters = [
            space.parameter_count(self.trials[i].hyperparameters.values, self.input_units)
            for i, _ in timed
        ]
        return acq.fit_cost_line(parameters, [seconds for _, seconds in timed])

    # ------------------------------------------------------------------ state
    def get_state(self):
        state = super().get_state()
        state.update({
            "num_initial_points": self.num_initial_points,
            "explore_probability": self.explore_probability,
            "warm_cost_ratio": self.warm_cost_ratio,
            "top_fraction": self.top_fraction,
            "initial_fraction": self.initial_fraction,
            "num_cold_candidates": self.num_cold_candidates,
            "grow_proposals": {k: dict(self._proposals[k]) for k in sorted(self._proposals)},
            "grow_kernel_theta": self._theta,
        })
        return state

    def set_state(self, state):
        # NOTE: the settings are the user's: the constructor's values win over the saved
        # ones (KerasTuner issue #803). Only search progress is restored.
        super().set_state(state)
        self._proposals = {
            str(k): {"kind": v["kind"], "parent": v["parent"]}
            for k, v in state.get("grow_proposals", {}).items()
        }
        theta = state.get("grow_kernel_theta")
        self._theta = None if theta is None else [float(v) for v in theta]
