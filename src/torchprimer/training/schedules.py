"""Learning-rate schedules as a pure function of the step number.

Because the rate is recomputed from (step, total) every step, a resumed run needs no
scheduler state to continue exactly where it stopped.
"""

from __future__ import annotations

import math

# One-cycle: a linear warm-up from lr/25 to lr, then half a cosine from lr down towards lr/1e4. The
# factors 25 and 1e4 are OneCycleLR's defaults, but the shape is not OneCycleLR's: torch warms up
# along a cosine too and ends at lr/(25 * 1e4) on the last step. Here, as for --schedule cosine
# (which matches CosineAnnealingLR), each step takes the rate at its start, so lr/1e4 is where the
# curve would be one step after the last.
ONECYCLE_START = 1 / 25
ONECYCLE_END = 1e-4
ONECYCLE_WARMUP = 0.3


def lr_factor(schedule: str, step: int, total: int, warmup: float = 0.0) -> float:
    """Multiplier of the base learning rate at `step` (0-based) of `total` steps.

    none: constant; step: x0.1 at 50% and again at 75% of training; cosine: half a cosine
    from 1 towards 0; onecycle: linear warm-up from 1/25 (30% of steps unless --warmup gives
    another share), then half a cosine towards 1e-4. `warmup` adds a linear warm-up to any
    schedule. The decays reach their end one step after the last (see ONECYCLE_START above).
    """
    if schedule == "onecycle" and warmup == 0:
        warmup = ONECYCLE_WARMUP
    warm_steps = round(warmup * total)
    if step < warm_steps:
        return ONECYCLE_START + (1 - ONECYCLE_START) * step / warm_steps
    progress = (step - warm_steps) / max(1, total - warm_steps)
    if schedule == "none":
        return 1.0
    if schedule == "step":
        return 0.1 ** ((progress >= 0.5) + (progress >= 0.75))
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "onecycle":
        return ONECYCLE_END + (1 - ONECYCLE_END) * 0.5 * (1 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}")
