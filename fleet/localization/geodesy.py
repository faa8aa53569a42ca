"""Site frame <-> geodetic (CGCS2000 / WGS84) through the Site's geodetic anchor.

BeiDou reports latitude, longitude and ellipsoidal height in CGCS2000. CGCS2000 uses
the GRS80 ellipsoid (a = 6378137 m, 1/f = 298.257222101); WGS84 has the same `a` and
1/f = 298.257223563, so the two ellipsoids differ by 0.1 mm in the semi-minor axis and
give the same local coordinates to well under a millimetre on a site a few kilometres
wide. The frames' realisations (ITRF epochs) differ by a few centimetres, which a site
survey absorbs: the anchor is surveyed in the same datum the receivers report.

The site frame is a local tangent plane: geodetic -> ENU about the anchor (pymap3d),
then rotated so +x points along the anchor's `heading_deg` (bearing of +x, clockwise
from north) and +y is 90 degrees counter-clockwise from +x. This module does not
import `maps` so the simulator and tests can build a frame from plain numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymap3d

DATUM_ELLIPSOID = {"CGCS2000": "grs80", "WGS84": "wgs84"}


def ellipsoid(datum: str) -> pymap3d.Ellipsoid:
    """The reference ellipsoid of a datum name (CGCS2000 -> GRS80)."""
    try:
        return pymap3d.Ellipsoid.from_name(DATUM_ELLIPSOID[datum.upper()])
    except KeyError:
        raise ValueError(f"unknown datum {datum!r} (known: {', '.join(DATUM_ELLIPSOID)})") from None


@dataclass(frozen=True)
class SiteFrame:
    """A site's local frame on Earth: origin (lat, lon, height) and the bearing of +x."""

    lat_deg: float
    lon_deg: float
    height_m: float
    heading_deg: float = 90.0
    datum: str = "CGCS2000"

    @classmethod
    def from_anchor(cls, anchor: Any) -> SiteFrame:
        """From any object with the `maps.site.GeodeticAnchor` fields."""
        return cls(
            float(anchor.lat_deg),
            float(anchor.lon_deg),
            float(anchor.height_m),
            float(getattr(anchor, "heading_deg", 90.0)),
            str(getattr(anchor, "datum", "CGCS2000")),
        )

    @property
    def _sin_cos(self) -> tuple[float, float]:
        h = math.radians(self.heading_deg)
        return math.sin(h), math.cos(h)

    def enu_to_site_matrix(self) -> np.ndarray:
        """2x2 rotation taking (east, north) to (x, y); its transpose goes back."""
        s, c = self._sin_cos
        return np.array([[s, c], [-c, s]])

    def to_site(self, lat_deg: Any, lon_deg: Any, height_m: Any) -> tuple[Any, Any, Any]:
        """Geodetic (degrees, metres) -> site (x, y, z) in metres; scalars or arrays."""
        e, n, u = pymap3d.geodetic2enu(
            lat_deg, lon_deg, height_m, self.lat_deg, self.lon_deg, self.height_m,
            ell=ellipsoid(self.datum), deg=True,
        )
        s, c = self._sin_cos
        return e * s + n * c, -e * c + n * s, u

    def to_geodetic(self, x: Any, y: Any, z: Any = 0.0) -> tuple[Any, Any, Any]:
        """Site (x, y, z) metres -> geodetic (lat_deg, lon_deg, height_m)."""
        s, c = self._sin_cos
        e = np.asarray(x) * s - np.asarray(y) * c
        n = np.asarray(x) * c + np.asarray(y) * s
        lat, lon, h = pymap3d.enu2geodetic(
            e, n, z, self.lat_deg, self.lon_deg, self.height_m,
            ell=ellipsoid(self.datum), deg=True,
        )
        if np.ndim(lat) == 0:
            return float(lat), float(lon), float(h)
        return lat, lon, h

    def cov_enu_to_site(self, cov_en: np.ndarray) -> np.ndarray:
        """A 2x2 east/north covariance expressed in the site frame."""
        rot = self.enu_to_site_matrix()
        return rot @ np.asarray(cov_en, dtype=float) @ rot.T


def geodetic_to_ecef(lat_deg: Any, lon_deg: Any, height_m: Any, datum: str = "CGCS2000") -> tuple:
    """Earth-centred, Earth-fixed (X, Y, Z) metres of a geodetic point (for checks and logs)."""
    return pymap3d.geodetic2ecef(lat_deg, lon_deg, height_m, ell=ellipsoid(datum), deg=True)
