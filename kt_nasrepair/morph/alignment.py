"""Donor -> target structure: which target layer copies which donor layer, what is carried.

Everything here depends on the two architectures only, never on weight values, so
`can_transfer` gives the same answer before and after the donor's checkpoint is loaded, and
`transfer` refuses exactly what `can_transfer` refuses.
"""

from __future__ import annotations

import dataclasses
import functools

from kt_nasrepair.morph import activations
from kt_nasrepair.morph import keras_models as km
from kt_nasrepair.morph.keras_models import NotMorphableError


@dataclasses.dataclass
class BlockShape:
    """One block as transfer sees it: Dense, then nonlinearities and normalisations.

    The *head* runs from the Dense layer to its last nonlinearity (all of it when the block
    is linear); BatchNormalization layers after the last nonlinearity form the *tail*.
    """

    block: km.Block
    nonlinear: tuple  # activation keys in order, linear ones dropped
    labels: tuple  # their names, for messages
    out_range: tuple  # range of the last nonlinearity (before any tail)
    head: tuple  # "bn" or an activation key, in order
    head_bns: list
    tail_bns: list
    mixing: str | None  # why a nonlinearity is not element-wise, if one is not

    @property
    def name(self) -> str:
        return self.block.dense.name

    @property
    def units(self) -> int:
        return self.block.units


def block_shape(block: km.Block) -> BlockShape:
    tokens = []  # ("bn", layer) or (key, name, fn)
    for layer in [block.dense] + block.post:
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            tokens.append(("bn", layer))
        elif kind in ("Dense", "Activation"):
            name = activations.activation_name(layer.activation)
            if name != "linear":
                tokens.append((activations.activation_key(layer.activation), name,
                               layer.activation))
    last = max((i for i, t in enumerate(tokens) if t[0] != "bn"), default=len(tokens) - 1)
    head, tail = tokens[:last + 1], tokens[last + 1:]
    acts = [t for t in tokens if t[0] != "bn"]
    value_range = km.REAL_LINE
    for _, name, _ in acts:
        value_range = activations.activation_range(name, value_range)
    reasons = [activations.mixing_reason(fn) for _, _, fn in acts]
    return BlockShape(
        block=block,
        nonlinear=tuple(t[0] for t in acts),
        labels=tuple(t[1] for t in acts),
        out_range=value_range,
        head=tuple("bn" if t[0] == "bn" else t[0] for t in head),
        head_bns=[t[1] for t in head if t[0] == "bn"],
        tail_bns=[t[1] for t in tail],
        mixing=next((r for r in reasons if r is not None), None),
    )


def batchnorm_compatible(donor, target) -> bool:
    """Whether target BatchNormalization `target` can hold donor `donor`'s four vectors."""
    return (
        (target.scale or not donor.scale)
        and (target.center or not donor.center)
        and abs(float(donor.epsilon) - float(target.epsilon)) <= 1e-12
    )


def _pairs_compatible(donor_bns, target_bns) -> bool:
    return len(donor_bns) == len(target_bns) and all(
        batchnorm_compatible(d, t) for d, t in zip(donor_bns, target_bns))


@dataclasses.dataclass
class Plan:
    """The structural result of aligning a donor onto a target.

    Attributes:
        donor, target: The parsed chains.
        donor_blocks, target_blocks: Their `BlockShape`s (the output block last).
        positions: For each donor hidden block, the target hidden block that copies it.
        carry_head: For each donor block (output included), whether its head
            BatchNormalizations are carried into the copying target block (else folded).
        carry_tail: For each donor hidden block, whether its tail BatchNormalizations are
            carried into the last target block of its span (else folded into the next Dense).
        prefix_pairs: Donor/target prefix BatchNormalizations carried across.
    """

    donor: km.Chain
    target: km.Chain
    donor_blocks: list
    target_blocks: list
    positions: tuple
    carry_head: list
    carry_tail: list
    prefix_pairs: list

    def span(self, i: int) -> range:
        """Target blocks of donor block `i`: its copy, then identity layers (output: itself)."""
        if i == len(self.positions):
            last = len(self.target_blocks) - 1
            return range(last, last + 1)
        end = self.positions[i + 1] if i + 1 < len(self.positions) else len(
            self.target_blocks) - 1
        return range(self.positions[i], end)

    def copy_of(self, i: int) -> int:
        return self.span(i)[0]


def _prefix_tokens(chain):
    tokens = []
    for layer in chain.prefix:
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            tokens.append(("bn", tuple(layer.moving_mean.shape)))
        elif kind in ("Flatten", "Reshape"):
            tokens.append((kind, tuple(layer.output.shape[1:])))
    return tokens


def _prefix_pairs(donor, target) -> list:
    donor_bns = [l for l in donor.prefix if type(l).__name__ == "BatchNormalization"]
    target_bns = [l for l in target.prefix if type(l).__name__ == "BatchNormalization"]
    for chain, role in ((donor, "donor"), (target, "target")):
        for layer in chain.prefix:
            if (type(layer).__name__ == "Activation"
                    and activations.activation_name(layer.activation) != "linear"):
                raise NotMorphableError(
                    f"{role.capitalize()} layer {layer.name!r} (Activation) before the first "
                    "Dense layer is not supported by transfer."
                )
    if not donor_bns:
        return []
    if _prefix_tokens(donor) == _prefix_tokens(target) and _pairs_compatible(donor_bns,
                                                                              target_bns):
        return list(zip(donor_bns, target_bns))
    raise NotMorphableError(
        f"Donor layer {donor_bns[0].name!r} (BatchNormalization) before the first Dense layer "
        "can only be carried into a target with the same BatchNormalization/Flatten/Reshape "
        "layers before its first Dense layer."
    )


def _align(donor: list, target: list):
    """Monotone alignment of donor hidden blocks onto target hidden blocks.

    Donor block `i` goes to target block `positions[i]` (same nonlinearities, width at least
    the donor's, equal when a nonlinearity mixes units); target blocks between donor `i`'s
    and the next one become identity layers, which needs width >= donor `i`'s and
    activations that are the identity on donor `i`'s outputs. The first donor block maps to
    the first target block (an identity layer cannot sit on the raw inputs). The earliest
    alignment wins, so identity layers go as late as possible.

    Returns:
        A tuple of target positions, or `None` when none exists.
    """
    d_count, t_count = len(donor), len(target)
    if d_count == 0:
        return () if t_count == 0 else None

    def copyable(i, k):
        if target[k].nonlinear != donor[i].nonlinear or target[k].units < donor[i].units:
            return False
        return donor[i].mixing is None or target[k].units == donor[i].units

    def insertable(i, j):
        return target[j].units >= donor[i].units and all(
            activations.is_identity_on(f, donor[i].out_range) for f in target[j].labels)

    @functools.lru_cache(maxsize=None)
    def solve(i, k):
        if not copyable(i, k):
            return None
        if i == d_count - 1:
            ok = all(insertable(i, j) for j in range(k + 1, t_count))
            return (k,) if ok else None
        for k_next in range(k + 1, t_count - (d_count - 1 - i) + 1):
            if k_next > k + 1 and not insertable(i, k_next - 1):
                break
            rest = solve(i + 1, k_next)
            if rest is not None:
                return (k,) + rest
        return None

    return solve(0, 0)


def _describe_blocks(blocks) -> str:
    return "[" + ", ".join(
        f"{b.units} {'/'.join(b.labels) or 'linear'}" for b in blocks) + "]"


def input_features(chain) -> int:
    return int(chain.blocks[0].dense.kernel.shape[0])


def analyse(donor_model, target_model) -> Plan:
    """Parses both models and plans the transfer.

    Raises:
        NotMorphableError: with the reason, when `transfer` cannot reproduce the donor.
    """
    donor, target = km.parse_model(donor_model), km.parse_model(target_model)
    if donor.input_shape != target.input_shape:
        raise NotMorphableError(
            f"Input shapes differ: donor {donor.input_shape}, target {target.input_shape}."
        )
    if input_features(donor) != input_features(target):
        raise NotMorphableError(
            f"The first Dense layers see {input_features(donor)} (donor) and "
            f"{input_features(target)} (target) features."
        )
    prefix_pairs = _prefix_pairs(donor, target)
    d_blocks = [block_shape(b) for b in donor.blocks]
    t_blocks = [block_shape(b) for b in target.blocks]
    _check_donor_normalisations(d_blocks)
    if d_blocks[-1].units != t_blocks[-1].units:
        raise NotMorphableError(
            f"Output widths differ: donor {d_blocks[-1].units}, target {t_blocks[-1].units}."
        )
    if d_blocks[-1].nonlinear != t_blocks[-1].nonlinear:
        raise NotMorphableError(
            f"Output activations differ: donor {d_blocks[-1].labels or ('linear',)}, "
            f"target {t_blocks[-1].labels or ('linear',)}."
        )
    if len(t_blocks) < len(d_blocks):
        raise NotMorphableError(
            f"The target has fewer hidden Dense layers ({len(t_blocks) - 1}) than the donor "
            f"({len(d_blocks) - 1}); Net2Net cannot remove layers."
        )
    positions = _align(d_blocks[:-1], t_blocks[:-1])
    if positions is None:
        raise NotMorphableError(_no_alignment_reason(d_blocks[:-1], t_blocks[:-1]))
    plan = Plan(donor, target, d_blocks, t_blocks, positions, [], [], prefix_pairs)
    for i, d_block in enumerate(d_blocks):
        span = plan.span(i)
        copy, last = t_blocks[span[0]], t_blocks[span[-1]]
        plan.carry_head.append(bool(d_block.head_bns) and d_block.head == copy.head
                               and _pairs_compatible(d_block.head_bns, copy.head_bns))
        if i < len(d_blocks) - 1:
            plan.carry_tail.append(bool(d_block.tail_bns)
                                   and _pairs_compatible(d_block.tail_bns, last.tail_bns))
    _check_biases(plan)
    return plan


def _check_donor_normalisations(d_blocks):
    for i, shape in enumerate(d_blocks):
        last = i == len(d_blocks) - 1
        if shape.tail_bns and last:
            raise NotMorphableError(
                f"Donor output layer {shape.name!r} is followed by a BatchNormalization "
                "after its activation; transfer cannot move that normalisation."
            )
        head_bn_positions = [j for j, t in enumerate(shape.head) if t == "bn"]
        first_act = next((j for j, t in enumerate(shape.head) if t != "bn"), len(shape.head))
        if any(j > first_act for j in head_bn_positions):
            raise NotMorphableError(
                f"Donor layer {shape.name!r} applies an activation after a BatchNormalization "
                "that follows another activation; transfer cannot move that normalisation."
            )


def _no_alignment_reason(donor, target) -> str:
    reason = (
        "No monotone alignment of the donor's hidden layers "
        f"{_describe_blocks(donor)} onto the target's {_describe_blocks(target)}: every "
        "target layer needs at least the width of the donor layer it copies or follows, "
        "copies need the same activations, and inserted layers need an activation that is "
        "the identity on their inputs (relu after relu, or linear)."
    )
    mixing = [b for b in donor if b.mixing is not None]
    if mixing:
        reason = (
            f"Donor layer {mixing[0].name!r}: {mixing[0].mixing}; Net2Net widening is only "
            "exact for element-wise activations, so the target layer copying it must have "
            f"the same width. {reason}"
        )
    return reason


def _check_biases(plan: Plan):
    """Refuses a target Dense without bias that would need one (see `needs_bias`)."""
    for i, d_block in enumerate(plan.donor_blocks):
        t_block = plan.target_blocks[plan.copy_of(i)]
        dense = t_block.block.dense
        if dense.use_bias or not needs_bias(plan, i) or t_block.head[:1] == ("bn",):
            continue
        raise NotMorphableError(
            f"Target layer {dense.name!r} has no bias (use_bias=False) but donor layer "
            f"{d_block.name!r} needs one (it has a bias, or a BatchNormalization that transfer "
            "folds into it), and no BatchNormalization directly after the target layer can "
            "absorb it."
        )


def needs_bias(plan: Plan, i: int) -> bool:
    """Whether donor block `i`, as written into the target, has a (generally) non-zero bias."""
    d_block = plan.donor_blocks[i]
    folded_head = bool(d_block.head_bns) and not plan.carry_head[i]
    folded_input = i > 0 and bool(plan.donor_blocks[i - 1].tail_bns) and not plan.carry_tail[
        i - 1]
    return bool(d_block.block.dense.use_bias) or folded_head or folded_input
