"""Net2Net function-preserving morphisms of Keras dense networks (see docs/morph.md).

`widen`/`deepen` return grown copies of a model; `transfer` writes a donor's function into a
built, larger target model.
"""

from __future__ import annotations

from kt_nasrepair.morph.keras_models import NotMorphableError, forward
from kt_nasrepair.morph.morphisms import deepen, describe, hidden_widths, widen
from kt_nasrepair.morph.net2net import DEFAULT_NOISE_STD
from kt_nasrepair.morph.transfer import DEFAULT_MAX_DEVIATION, MorphReport, can_transfer, transfer

__all__ = ["DEFAULT_MAX_DEVIATION", "DEFAULT_NOISE_STD", "MorphReport", "NotMorphableError",
           "can_transfer", "deepen", "describe", "forward", "hidden_widths", "transfer", "widen"]
