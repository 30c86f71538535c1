"""Donor -> target plan from the architectures alone: which layer copies which, what is carried.

`transfer` refuses exactly what `analyse` refuses; see docs/morph.md.
"""

from __future__ import annotations

import dataclasses
import functools

from kt_nasrepair.morph import activations as act
from kt_nasrepair.morph import keras_models as km
from kt_nasrepair.morph.keras_models import NotMorphableError


@dataclasses.dataclass
class BlockShape:
    """A block as transfer sees it: *head* up to its last nonlinearity, then the *tail* BNs."""

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
    value_range = functools.reduce(lambda r, t: act.activation_range(t[1], r), acts, act.REAL_LINE)
    mixing = next((r for r in (act.mixing_reason(t[2]) for t in acts) if r is not None), None)
    return BlockShape(block, block.dense.name, block.units, tuple(t[0] for t in acts),
                      tuple(t[1] for t in acts), value_range, tuple(t[0] for t in head),
                      [t[1] for t in head if t[0] == "bn"], [t[1] for t in tail], mixing)


def _carriable(donor_bns, target_bns) -> bool:
    return len(donor_bns) == len(target_bns) and all(
        (t.scale or not d.scale) and (t.center or not d.center)
        and abs(float(d.epsilon) - float(t.epsilon)) <= 1e-12
        for d, t in zip(donor_bns, target_bns))


@dataclasses.dataclass
class Plan:
    """Aligned donor and target blocks, and which BatchNormalizations are carried."""

    donor: km.Chain
    target: km.Chain
    donor_blocks: list  # `BlockShape`s, the output block last
    target_blocks: list
    positions: tuple  # per donor hidden block, the target hidden block copying it
    carry_head: list  # per donor block: head BatchNormalizations carried (else folded)
    carry_tail: list  # per donor hidden block: tail ones carried to its span's last block
    prefix_pairs: list  # donor/target BatchNormalizations before the first Dense layer

    def span(self, i: int) -> range:
        """Target blocks of donor block `i`: its copy, then identity layers (output: itself)."""
        ends = (*self.positions, len(self.target_blocks) - 1)
        return range(ends[i], ends[i + 1] if i + 1 < len(ends) else ends[i] + 1)


def _prefix_pairs(donor, target) -> list:
    for chain, role in ((donor, "Donor"), (target, "Target")):
        for layer in chain.prefix:
            if (type(layer).__name__ == "Activation"
                    and act.activation_name(layer.activation) != "linear"):
                raise NotMorphableError(f"{role} layer {layer.name!r} (Activation) before the "
                                        "first Dense layer is not supported by transfer.")
    donor_bns, target_bns = km.batchnorms(donor.prefix), km.batchnorms(target.prefix)
    if not donor_bns:
        return []
    tokens = [[("bn", tuple(l.moving_mean.shape)) if type(l).__name__ == "BatchNormalization"
               else (type(l).__name__, tuple(l.output.shape[1:])) for l in chain.prefix
               if type(l).__name__ in ("BatchNormalization", "Flatten", "Reshape")]
              for chain in (donor, target)]
    if tokens[0] == tokens[1] and _carriable(donor_bns, target_bns):
        return list(zip(donor_bns, target_bns))
    raise NotMorphableError(
        f"Donor layer {donor_bns[0].name!r} (BatchNormalization) before the first Dense layer "
        "can only be carried into a target with the same BatchNormalization/Flatten/Reshape "
        "layers before its first Dense layer.")


def _align(donor: list, target: list):
    """The earliest monotone alignment of donor hidden blocks onto target ones, or `None`."""
    d_count, t_count = len(donor), len(target)
    if d_count == 0:
        return () if t_count == 0 else None

    def copyable(i, k):
        d, t = donor[i], target[k]
        return t.nonlinear == d.nonlinear and t.units >= d.units and (
            d.mixing is None or t.units == d.units)

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
    """Parses both models and plans the transfer (NotMorphableError says why it cannot)."""
    donor, target = km.parse_model(donor_model), km.parse_model(target_model)
    if donor.input_shape != target.input_shape:
        raise NotMorphableError(
            f"Input shapes differ: donor {donor.input_shape}, target {target.input_shape}.")
    if input_features(donor) != input_features(target):
        raise NotMorphableError(f"The first Dense layers see {input_features(donor)} (donor) "
                                f"and {input_features(target)} (target) features.")
    prefix_pairs = _prefix_pairs(donor, target)
    d_blocks = [block_shape(b) for b in donor.blocks]
    t_blocks = [block_shape(b) for b in target.blocks]
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
    d_out, t_out = d_blocks[-1], t_blocks[-1]
    if d_out.units != t_out.units:
        raise NotMorphableError(f"Output widths differ: donor {d_out.units}, target {t_out.units}.")
    if d_out.nonlinear != t_out.nonlinear:
        raise NotMorphableError(f"Output activations differ: donor {d_out.labels or ('linear',)}, "
                                f"target {t_out.labels or ('linear',)}.")
    if len(t_blocks) < len(d_blocks):
        raise NotMorphableError(f"The target has fewer hidden Dense layers ({len(t_blocks) - 1}) "
                                f"than the donor ({len(d_blocks) - 1}); layers cannot be removed.")
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
        # A bias-less target Dense can hold no donor bias unless a BN right after absorbs it.
        needs_bias = (bool(d_block.block.dense.use_bias)
                      or (bool(d_block.head_bns) and not plan.carry_head[i])
                      or (i > 0 and bool(d_blocks[i - 1].tail_bns) and not plan.carry_tail[i - 1]))
        dense = copy.block.dense
        if needs_bias and not dense.use_bias and copy.head[:1] != ("bn",):
            raise NotMorphableError(
                f"Target layer {dense.name!r} has no bias (use_bias=False) but donor layer "
                f"{d_block.name!r} needs one (a bias, or a BatchNormalization folded into it), "
                "and no BatchNormalization directly after the target layer can absorb it.")
    return plan


def _no_alignment_reason(donor, target) -> str:
    def described(blocks):
        return "[" + ", ".join(f"{b.units} {'/'.join(b.labels) or 'linear'}" for b in blocks) + "]"

    reason = (
        f"No monotone alignment of the donor's hidden layers {described(donor)} onto the "
        f"target's {described(target)}: every target layer needs at least the width of the "
        "donor layer it copies or follows, copies the same activations, inserted layers an "
        "activation that is the identity on their inputs (relu after relu, or linear).")
    mixing = next((b for b in donor if b.mixing is not None), None)
    return reason if mixing is None else (
        f"Donor layer {mixing.name!r}: {mixing.mixing}; Net2Net widening is only exact for "
        f"element-wise activations, so the target layer copying it must have the same width. "
        f"{reason}")
