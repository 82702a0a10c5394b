"""The phantom's vertebral column by level: C1…C7, T1…T12, L1…L5 and S1, each with its body height and the disc
below it, in world z (mm, +z superior).

Heights follow the adult column roughly: cervical bodies 13 mm with 4 mm discs, thoracic bodies growing from
15.5 mm (T1) to 21 mm (T12) with discs from 4 to 6 mm, lumbar bodies 22–24 mm with 9–10 mm discs; S1 is the top
segment of the sacrum. ``variation`` scales every height and disc by an independent factor in
``[1 - variation, 1 + variation]`` drawn from ``seed``, so the numbering can be tested on columns whose levels are
not evenly spaced. The centre of T1 stays at :data:`T1_Z` whatever the variation.

:mod:`radgenome.synth.phantom` paints the bodies, arches, discs, ribs (rib ``k`` articulates with ``T k``) and the
sacrum from this table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

T1_Z = 135.0
"""World z (mm) of the centre of the T1 body."""

LEVEL_NAMES: tuple[str, ...] = (
    *(f"cervical vertebrae {k} (c{k})" for k in range(1, 8)),
    *(f"thoracic vertebrae {k} (t{k})" for k in range(1, 13)),
    *(f"lumbar vertebrae {k} (l{k})" for k in range(1, 6)),
    "sacral vertebrae 1 (s1)",
)
"""RadGenome's names of the levels, top to bottom (index 7 = T1, 18 = T12, 23 = L5, 24 = S1)."""

T1_INDEX = 7
S1_INDEX = 24


@dataclass(frozen=True)
class Level:
    """One vertebra of the phantom."""

    name: str
    index: int
    """Position in :data:`LEVEL_NAMES` (0 = C1, 7 = T1, 18 = T12, 23 = L5, 24 = S1)."""
    centre: float
    """World z of the body's centre."""
    height: float
    """Body height (mm)."""
    disc_below: float
    """Thickness of the disc below the body (0 for S1)."""

    @property
    def top(self) -> float:
        return self.centre + self.height / 2.0

    @property
    def bottom(self) -> float:
        return self.centre - self.height / 2.0

    @property
    def thoracic(self) -> int | None:
        """1..12 for T1..T12, else None."""
        k = self.index - T1_INDEX + 1
        return k if 1 <= k <= 12 else None


def _base_sizes() -> tuple[list[float], list[float]]:
    heights: list[float] = []
    discs: list[float] = []
    for _ in range(7):  # cervical
        heights.append(13.0)
        discs.append(4.0)
    for k in range(12):  # thoracic
        heights.append(15.5 + 5.5 * k / 11.0)
        discs.append(4.0 + 2.0 * k / 11.0)
    heights += [22.0, 23.0, 24.0, 24.0, 24.0]  # lumbar
    discs += [9.0, 9.0, 10.0, 10.0, 10.0]
    heights.append(26.0)  # S1 (the sacrum's top segment)
    discs.append(0.0)
    return heights, discs


def spine_levels(variation: float = 0.0, seed: int = 0) -> tuple[Level, ...]:
    """Every level C1…S1, top to bottom (see the module docstring)."""
    heights, discs = _base_sizes()
    if variation > 0:
        rng = np.random.default_rng(seed + 7919)
        f = 1.0 + variation * rng.uniform(-1.0, 1.0, size=(2, len(heights)))
        heights = [h * float(a) for h, a in zip(heights, f[0], strict=True)]
        discs = [d * float(a) for d, a in zip(discs, f[1], strict=True)]
    centres = [0.0] * len(heights)
    centres[T1_INDEX] = T1_Z
    for i in range(T1_INDEX + 1, len(heights)):
        centres[i] = centres[i - 1] - heights[i - 1] / 2.0 - discs[i - 1] - heights[i] / 2.0
    for i in range(T1_INDEX - 1, -1, -1):
        centres[i] = centres[i + 1] + heights[i + 1] / 2.0 + discs[i] + heights[i] / 2.0
    return tuple(
        Level(name=n, index=i, centre=c, height=h, disc_below=d)
        for i, (n, c, h, d) in enumerate(zip(LEVEL_NAMES, centres, heights, discs, strict=True))
    )


def levels_in(levels: tuple[Level, ...], z_lo: float, z_hi: float) -> list[Level]:
    """The levels whose bodies reach into ``[z_lo, z_hi]``."""
    return [lv for lv in levels if lv.top >= z_lo and lv.bottom <= z_hi]


def thoracic(levels: tuple[Level, ...], k: int) -> Level:
    """The level ``T k`` (1..12)."""
    return levels[T1_INDEX + k - 1]
