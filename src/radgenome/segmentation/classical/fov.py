"""What part of the body the scan covers, and which regions lie outside it.

Decided from the thorax landmarks, the airway and the lungs (all in the patient frame):

- ``thorax``: lungs were found. Regions cut away are still named: the trachea when the scan starts below the
  carina (the airway at its top is a main bronchus) or the lung apices are above the scan and no airway is
  seen; the abdomen when every lung base reaches the bottom of the scan; the thyroid when the scan ends less
  than ``THYROID_MARGIN_MM`` above the lung apex.
- ``below the thorax`` (an abdominal CT): no lung, no airway, a rib cage of at most ``AIRLESS_CAGE_MM`` (the
  lower ribs around the upper abdomen: a scan that shows no lung at all starts below the lung bases, which reach
  the 12th vertebra) and positive signs of the abdomen: that short lower rib cage, or gas (bowel, stomach) in a
  body of abdominal cross-section (``ABDOMEN_MIN_AREA_MM2``). Lung, pleura, airway, heart, mediastinum, thyroid
  and breast are outside.
- ``above the thorax`` (a neck CT): no lung, an airway that reaches the bottom of the scan. Lung, pleura, heart,
  mediastinum, breast and abdomen are outside.
- otherwise there is no way to tell an airless chest from a scan beside the thorax, and the case fails
  (``no lungs found``): a rib cage spanning ``AIRLESS_CAGE_MM`` or more without any lung in it, or nothing that
  shows the abdomen.

Each outside region becomes one :func:`~radgenome.segmentation.base.outside_fov_warning`, which linking reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from radgenome.segmentation.base import outside_fov_warning
from radgenome.segmentation.classical.grid import WorkGrid
from radgenome.segmentation.classical.thorax import Thorax

THYROID_MARGIN_MM = 20.0
AIRLESS_CAGE_MM = 100.0
"""A rib cage this tall with no lung in it is an airless chest, not the lower ribs of an abdominal CT."""
MIN_GAS_ML = 5.0
ABDOMEN_MIN_AREA_MM2 = 30000.0
"""Largest body cross-section of an abdomen (an adult's is 40,000-70,000 mm²; a head's about 25,000)."""
AIRWAY_BOTTOM_MM = 15.0

Kind = Literal["thorax", "below the thorax", "above the thorax"]


class NoThoraxDecision(ValueError):
    """No lung, and nothing shows the scan lies beside the thorax (the message says why)."""


@dataclass
class FieldOfView:
    kind: Kind
    outside: dict[str, str] = field(default_factory=dict)
    """Region or node -> why it lies outside the field of view."""

    def warnings(self) -> list[str]:
        return [outside_fov_warning(node, why) for node, why in self.outside.items()]

    def as_settings(self) -> dict[str, object]:
        return {"kind": self.kind, "outside": sorted(self.outside)}


def _z_range(g: WorkGrid, mask: np.ndarray) -> tuple[float, float] | None:
    ks = mask.any(axis=(0, 1))
    if not ks.any():
        return None
    z = g.axis_world(2)[0, 0, ks]
    return float(z.min()), float(z.max())


def without_lungs(g: WorkGrid, body: np.ndarray, airway: np.ndarray, gas: np.ndarray, thorax: Thorax) -> FieldOfView:
    """The field of view of a scan without lungs, or :class:`NoThoraxDecision`."""
    body_z = _z_range(g, body)
    assert body_z is not None
    aw_z = _z_range(g, airway)
    if aw_z is not None:
        if aw_z[0] <= body_z[0] + AIRWAY_BOTTOM_MM:
            why = "the scan ends above the lungs (only the airway is seen)"
            return FieldOfView(
                "above the thorax",
                {r: why for r in ("lung", "pleura", "heart", "mediastinum", "breast", "abdomen")},
            )
        raise NoThoraxDecision(
            f"an airway ending {aw_z[0] - body_z[0]:.0f} mm above the bottom of the scan but no air region that is lung"
        )
    cage_z = thorax.cage_z(g)
    if cage_z is not None and cage_z[1] - cage_z[0] >= AIRLESS_CAGE_MM:
        raise NoThoraxDecision(f"a rib cage spans {cage_z[1] - cage_z[0]:.0f} mm without any lung in it")
    gas_ml = float(gas.sum()) * g.voxel_ml()
    area = float(body.sum(axis=(0, 1)).max()) * float(abs(g.spacing[0] * g.spacing[1]))
    if cage_z is None and not (gas_ml >= MIN_GAS_ML and area >= ABDOMEN_MIN_AREA_MM2):
        raise NoThoraxDecision(
            f"no rib cage, and {'no gas' if gas_ml < MIN_GAS_ML else f'{gas_ml:.0f} ml of gas'} in a body of at most "
            f"{area:.0f} mm² cross-section: nothing shows an abdomen"
        )
    why = "the scan lies below the thorax: no air region inside a rib cage above the diaphragm"
    return FieldOfView(
        "below the thorax",
        {r: why for r in ("lung", "pleura", "trachea and bronchie", "heart", "mediastinum", "thyroid", "breast")},
    )


def with_lungs(
    g: WorkGrid,
    airway: np.ndarray,
    cut_top: bool,
    cut_bottom: bool,
    thyroid_margin_mm: float | None,
    below_carina: bool = False,
) -> FieldOfView:
    """Regions cut away from a scan that shows the lungs."""
    out: dict[str, str] = {}
    if below_carina:
        out["trachea"] = "the scan starts below the carina"
    elif cut_top and not airway.any():
        out["trachea"] = "the lung apices are above the scan and no airway is seen"
    if cut_bottom:
        out["abdomen"] = "the lung bases reach the bottom of the scan"
    if thyroid_margin_mm is not None and thyroid_margin_mm < THYROID_MARGIN_MM:
        out["thyroid"] = f"only {thyroid_margin_mm:.0f} mm above the lung apex"
    return FieldOfView("thorax", out)
