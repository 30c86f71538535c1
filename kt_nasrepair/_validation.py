"""Argument checks raising Keras-style errors: "`x` must be ... Received: x=..."."""

from __future__ import annotations

import math
from numbers import Integral, Real


def is_int(value) -> bool:
    """True for Python and NumPy integers; False for booleans (`True` is not a count)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    """True for finite real numbers (ints, floats, NumPy scalars); False for booleans."""
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))


def check(ok: bool, name: str, value, accepted: str, error=ValueError) -> None:
    """Unless `ok`, raises `error` naming the argument, the `value` and what is `accepted`."""
    if not ok:
        raise error(f"`{name}` must be {accepted}. Received: {name}={value!r}")
