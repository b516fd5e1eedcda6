"""The one rule of a keep fraction α (the share of a layer's weights kept), read by plans,
sweeps and the API's argument checks alike."""
from __future__ import annotations

import math

# The smallest keep fraction taken: its pruning ratio 1/α stays a finite float (a subnormal α
# such as 2e-313 would make it inf).
MIN_KEEP_FRACTION = 1e-300
KEEP_FRACTION_RANGE = "(0, 1], at least 1e-300"


def is_keep_fraction(value) -> bool:
    """A number in [MIN_KEEP_FRACTION, 1]."""
    return (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
            and MIN_KEEP_FRACTION <= value <= 1)
