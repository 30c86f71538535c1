"""Donor -> target structure: which target layer copies which donor layer, what is carried.

Architectures only, never weights: `can_transfer` answers the same before and after a
checkpoint is loaded, and `transfer` refuses exactly what it refuses.
"""

from __future__ import annotations

import dataclasses
import functools

from kt_nasrepair.morph import activations as act
from kt_nasrepair.morph import keras_models as km
from kt_nasrepair.morph.keras_models import NotMorphableError


@dataclasses.dataclass
class BlockShape:
    """One block as transfer sees it: the *head* runs from the Dense layer to its last
    nonlinearity (all of it when linear), the BatchNormalizations after it are the *tail*."""

    block: km.Block
    name: str
    units: int
    nonlinear: tuple  # activation keys in order, linear ones dropped
    labels: tuple  # their names, for messages
    out_range: tuple  # range of the last nonlinearity (before any tail)
    head: tuple  # "bn" or an activation key, in order
    head_bns: list
    tail_bns: list
    mixing: str | None  # why a nonlinearity is not element-wise, if one is not


def block_shape(block: km.Block) -> BlockShape:
    tokens = []  # ("bn", layer) or (key, name, fn)
    for layer in [block.dense] + block.post:
        kind = type(layer).__name__
        if kind == "BatchNormalization":
            tokens.append(("bn", layer))
        elif kind in ("Dense", "Activation") and act.activation_name(layer.activation) != "linear":
            fn = layer.activation
            tokens.append((act.activation_key(fn), act.activation_name(fn), fn))
    last = max((i for i, t in enumerate(tokens) if t[0] != "bn"), default=len(tokens) - 1)
    head, tail = tokens[:last + 1], tokens[last + 1:]
    acts = [t for t in tokens if t[0] != "bn"]
    value_range = act.REAL_LINE
    for _, name, _ in acts:
        value_range = act.activation_range(name, value_range)
    mixing = next((r for r in (act.mixing_reason(t[2]) for t in acts) if r is not None), None)
    return BlockShape(block, block.dense.name, block.units, tuple(t[0] for t in acts),
                      tuple(t[1] for t in acts), value_range, tuple(t[0] for t in head),
                      [t[1] for t in head if t[0] == "bn"], [t[1] for t in tail], mixing)


def _carriable(donor_bns, target_bns) -> bool:
    """Whether each target BatchNormalization can hold its donor one's four vectors."""
    return len(donor_bns) == len(target_bns) and all(
        (t.scale or not d.scale) and (t.center or not d.center)
        and abs(float(d.epsilon) - float(t.epsilon)) <= 1e-12
        for d, t in zip(donor_bns, target_bns))


@dataclasses.dataclass
class Plan:
    """The structural result of aligning a donor onto a target."""

    donor: km.Chain
    target: km.Chain
    donor_blocks: list  # `BlockShape`s, the output block last
    target_blocks: list
    positions: tuple  # for each donor hidden block, the target hidden block that copies it
    carry_head: list  # per donor block: head BatchNormalizations carried (else folded)
    carry_tail: list  # per donor hidden block: tail ones carried to its span's last block
    prefix_pairs: list  # donor/target BatchNormalizations before the first Dense layer

    def span(self, i: int) -> range:
        """Target blocks of donor block `i`: its copy, then identity layers (output: itself)."""
        last = len(self.target_blocks) - 1
        if i == len(self.positions):
            return range(last, last + 1)
        return range(self.positions[i], (*self.positions, last)[i + 1])

    def copy_of(self, i: int) -> int:
        return self.span(i)[0]


def _prefix_tokens(chain):
    return [("bn", tuple(l.moving_mean.shape)) if type(l).__name__ == "BatchNormalization"
            else (type(l).__name__, tuple(l.output.shape[1:])) for l in chain.prefix
            if type(l).__name__ in ("BatchNormalization", "Flatten", "Reshape")]


def _prefix_pairs(donor, target) -> list:
    for chain, role in ((donor, "Donor"), (target, "Target")):
        for layer in chain.prefix:
            if (type(layer).__name__ == "Activation"
                    and act.activation_name(layer.activation) != "linear"):
                raise NotMorphableError(
                    f"{role} layer {layer.name!r} (Activation) before the first "
                    "Dense layer is not supported by transfer.")
    donor_bns, target_bns = km.batchnorms(donor.prefix), km.batchnorms(target.prefix)
    if not donor_bns:
        return []
    if _prefix_tokens(donor) == _prefix_tokens(target) and _carriable(donor_bns, target_bns):
        return list(zip(donor_bns, target_bns))
    raise NotMorphableError(
        f"Donor layer {donor_bns[0].name!r} (BatchNormalization) before the first Dense layer "
        "can only be carried into a target with the same BatchNormalization/Flatten/Reshape "
        "layers before its first Dense layer.")


def _align(donor: list, target: list):
    """Monotone alignment of donor hidden blocks onto target ones: positions, or `None`.

    Donor block `i` goes to target block `positions[i]` (same nonlinearities, width >= the
    donor's, equal when one mixes units); the target blocks up to the next copy become
    identity layers (width >= donor `i`'s, activations the identity on its outputs). Block
    0 goes to block 0 (no identity layer on raw inputs); the earliest alignment wins, so
    identity layers go as late as possible.
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
            act.is_identity_on(f, donor[i].out_range) for f in target[j].labels)

    @functools.lru_cache(maxsize=None)
    def solve(i, k):
        if not copyable(i, k):
            return None
        if i == d_count - 1:
            return (k,) if all(insertable(i, j) for j in range(k + 1, t_count)) else None
        for k_next in range(k + 1, t_count - (d_count - 1 - i) + 1):
            if k_next > k + 1 and not insertable(i, k_next - 1):
                break
            rest = solve(i + 1, k_next)
            if rest is not None:
                return (k,) + rest
        return None

    return solve(0, 0)


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
            f"Input shapes differ: donor {donor.input_shape}, target {target.input_shape}.")
    if input_features(donor) != input_features(target):
        raise NotMorphableError(
            f"The first Dense layers see {input_features(donor)} (donor) and "
            f"{input_features(target)} (target) features.")
    prefix_pairs = _prefix_pairs(donor, target)
    d_blocks = [block_shape(b) for b in donor.blocks]
    t_blocks = [block_shape(b) for b in target.blocks]
    _check_donor_normalisations(d_blocks)
    if d_blocks[-1].units != t_blocks[-1].units:
        raise NotMorphableError(
            f"Output widths differ: donor {d_blocks[-1].units}, target {t_blocks[-1].units}.")
    if d_blocks[-1].nonlinear != t_blocks[-1].nonlinear:
        raise NotMorphableError(
            f"Output activations differ: donor {d_blocks[-1].labels or ('linear',)}, "
            f"target {t_blocks[-1].labels or ('linear',)}.")
    if len(t_blocks) < len(d_blocks):
        raise NotMorphableError(
            f"The target has fewer hidden Dense layers ({len(t_blocks) - 1}) than the donor "
            f"({len(d_blocks) - 1}); Net2Net cannot remove layers.")
    positions = _align(d_blocks[:-1], t_blocks[:-1])
    if positions is None:
        raise NotMorphableError(_no_alignment_reason(d_blocks[:-1], t_blocks[:-1]))
    plan = Plan(donor, target, d_blocks, t_blocks, positions, [], [], prefix_pairs)
    for i, d_block in enumerate(d_blocks):
        span = plan.span(i)
        copy, last = t_blocks[span[0]], t_blocks[span[-1]]
        plan.carry_head.append(bool(d_block.head_bns) and d_block.head == copy.head
                               and _carriable(d_block.head_bns, copy.head_bns))
        if i < len(d_blocks) - 1:
            plan.carry_tail.append(bool(d_block.tail_bns)
                                   and _carriable(d_block.tail_bns, last.tail_bns))
    _check_biases(plan)
    return plan


def _check_donor_normalisations(d_blocks):
    for shape in d_blocks:
        if shape.tail_bns and shape is d_blocks[-1]:
            raise NotMorphableError(
                f"Donor output layer {shape.name!r} is followed by a BatchNormalization "
                "after its activation; transfer cannot move that normalisation.")
        first_act = next((j for j, t in enumerate(shape.head) if t != "bn"), len(shape.head))
        if "bn" in shape.head[first_act:]:
            raise NotMorphableError(
                f"Donor layer {shape.name!r} applies an activation after a BatchNormalization "
                "that follows another activation; transfer cannot move that normalisation.")


def _no_alignment_reason(donor, target) -> str:
    def described(blocks):
        return "[" + ", ".join(f"{b.units} {'/'.join(b.labels) or 'linear'}" for b in blocks) + "]"

    reason = (
        f"No monotone alignment of the donor's hidden layers {described(donor)} onto the "
        f"target's {described(target)}: every target layer needs at least the width of the "
        "donor layer it copies or follows, copies need the same activations, and inserted "
        "layers need an activation that is the identity on their inputs (relu after relu, "
        "or linear).")
    mixing = [b for b in donor if b.mixing is not None]
    if mixing:
        reason = (
            f"Donor layer {mixing[0].name!r}: {mixing[0].mixing}; Net2Net widening is only "
            "exact for element-wise activations, so the target layer copying it must have "
            f"the same width. {reason}")
    return reason


def _check_biases(plan: Plan):
    """Refuses a bias-less target Dense that must hold a (generally) non-zero donor bias.

    The donor block needs one when it has a bias, or a BatchNormalization folded into it
    (its own head, or the previous block's tail); a BatchNormalization directly after the
    target layer absorbs it instead.
    """
    for i, d_block in enumerate(plan.donor_blocks):
        t_block = plan.target_blocks[plan.copy_of(i)]
        dense = t_block.block.dense
        needs_bias = (bool(d_block.block.dense.use_bias)
                      or (bool(d_block.head_bns) and not plan.carry_head[i])
                      or (i > 0 and bool(plan.donor_blocks[i - 1].tail_bns)
                          and not plan.carry_tail[i - 1]))
        if dense.use_bias or not needs_bias or t_block.head[:1] == ("bn",):
            continue
        raise NotMorphableError(
            f"Target layer {dense.name!r} has no bias (use_bias=False) but donor layer "
            f"{d_block.name!r} needs one (it has a bias, or a BatchNormalization that transfer "
            "folds into it), and no BatchNormalization directly after the target layer can "
            "absorb it.")
