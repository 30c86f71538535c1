"""Net2Net function-preserving morphisms of Keras dense networks.

`widen` and `deepen` return grown copies of a model; `transfer` writes a donor's function
into an already built, larger target model. See docs/morph.md.
"""

from __future__ import annotations

from kt_nasrepair.morph.keras_models import NotMorphableError
from kt_nasrepair.morph.morphisms import deepen, describe, hidden_widths, widen
from kt_nasrepair.morph.net2net import DEFAULT_NOISE_STD
from kt_nasrepair.morph.numpy_forward import forward
from kt_nasrepair.morph.transfer import DEFAULT_MAX_DEVIATION, MorphReport, can_transfer, transfer

__all__ = ["DEFAULT_MAX_DEVIATION", "DEFAULT_NOISE_STD", "MorphReport", "NotMorphableError",
           "can_transfer", "deepen", "describe", "forward", "hidden_widths", "transfer", "widen"]
