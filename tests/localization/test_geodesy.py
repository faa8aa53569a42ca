"""Site frame <-> CGCS2000 / WGS84 conversions against known points and round trips."""

from __future__ import annotations

import math

import numpy as np
import pymap3d
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.localization.geodesy import SiteFrame, ellipsoid, geodetic_to_ecef

GRS80_B = 6356752.314140  # semi-minor axis, published (Moritz 1980, Geodetic Reference System 1980)
WGS84_B = 6356752.314245  # NIMA TR8350.2


def textbook_ecef(lat: float, lon: float, h: float, a: float, inv_f: float) -> tuple[float, float, float]:
    """Independent closed form (N = a / sqrt(1 - e^2 sin^2 phi)) to check the library."""
    f = 1 / inv_f
    e2 = f * (2 - f)
    la, lo = math.radians(lat), math.radians(lon)
    n = a / math.sqrt(1 - e2 * math.sin(la) ** 2)
    return ((n + h) * math.cos(la) * math.cos(lo), (n + h) * math.cos(la) * math.sin(lo),
            (n * (1 - e2) + h) * math.sin(la))


def test_ellipsoid_constants_are_the_published_ones():
    cgcs, wgs = ellipsoid("CGCS2000"), ellipsoid("WGS84")
    assert cgcs.semimajor_axis == wgs.semimajor_axis == 6378137.0
    assert 1 / cgcs.flattening == pytest.approx(298.257222101, abs=1e-9)
    assert 1 / wgs.flattening == pytest.approx(298.257223563, abs=1e-9)
    assert cgcs.semiminor_axis == pytest.approx(GRS80_B, abs=1e-6)
    assert wgs.semiminor_axis == pytest.approx(WGS84_B, abs=1e-6)


def test_known_ecef_points():
    assert np.allclose(geodetic_to_ecef(0.0, 0.0, 0.0), (6378137.0, 0.0, 0.0), atol=1e-6)
    assert np.allclose(geodetic_to_ecef(0.0, 90.0, 100.0), (0.0, 6378237.0, 0.0), atol=1e-6)
    assert np.allclose(geodetic_to_ecef(90.0, 0.0, 0.0), (0.0, 0.0, GRS80_B), atol=1e-5)
    # widely quoted WGS84 reference point (lat 42, lon -82, h 200 m)
    assert np.allclose(geodetic_to_ecef(42.0, -82.0, 200.0, "WGS84"),
                       (660675.2518247, -4700948.68316, 4245737.66222), atol=1e-3)


@pytest.mark.parametrize("lat, lon, h", [(31.2304, 121.4737, 4.0), (39.9042, 116.4074, 50.0),
                                         (22.5431, 114.0579, -10.0), (-33.86, 151.21, 30.0)])
def test_ecef_matches_closed_form_in_both_datums(lat, lon, h):
    got = geodetic_to_ecef(lat, lon, h, "CGCS2000")
    assert np.allclose(got, textbook_ecef(lat, lon, h, 6378137.0, 298.257222101), atol=1e-4)
    got_w = geodetic_to_ecef(lat, lon, h, "WGS84")
    assert np.allclose(got_w, textbook_ecef(lat, lon, h, 6378137.0, 298.257223563), atol=1e-4)
    # the two ellipsoids differ by ~0.1 mm at the surface
    assert np.max(np.abs(np.subtract(got, got_w))) < 1e-3


def test_cgcs2000_and_wgs84_give_the_same_site_coordinates():
    a = SiteFrame(30.6263, 122.065, 12.0, 63.0, "CGCS2000")
    b = SiteFrame(30.6263, 122.065, 12.0, 63.0, "WGS84")
    lat, lon, h = a.to_geodetic(1500.0, -800.0, 3.0)
    xa, ya, za = a.to_site(lat, lon, h)
    xb, yb, zb = b.to_site(lat, lon, h)
    assert abs(xa - xb) < 1e-3 and abs(ya - yb) < 1e-3 and abs(za - zb) < 1e-3


def test_heading_rotates_the_site_frame():
    north = pymap3d.enu2geodetic(0.0, 100.0, 0.0, 31.0, 121.0, 0.0, ell=ellipsoid("CGCS2000"))
    east = pymap3d.enu2geodetic(100.0, 0.0, 0.0, 31.0, 121.0, 0.0, ell=ellipsoid("CGCS2000"))
    f90 = SiteFrame(31.0, 121.0, 0.0, 90.0)  # +x east, +y north
    assert np.allclose(f90.to_site(*north)[:2], (0.0, 100.0), atol=1e-6)
    assert np.allclose(f90.to_site(*east)[:2], (100.0, 0.0), atol=1e-6)
    f0 = SiteFrame(31.0, 121.0, 0.0, 0.0)  # +x north, +y west
    assert np.allclose(f0.to_site(*north)[:2], (100.0, 0.0), atol=1e-6)
    assert np.allclose(f0.to_site(*east)[:2], (0.0, -100.0), atol=1e-6)
    f30 = SiteFrame(31.0, 121.0, 0.0, 30.0)  # +x points 30 degrees east of north
    x, y, _ = f30.to_site(*north)
    assert np.allclose((x, y), (100 * math.cos(math.radians(30)), 100 * math.sin(math.radians(30))),
                       atol=1e-6)


def test_covariance_rotation():
    f0 = SiteFrame(31.0, 121.0, 0.0, 0.0)
    cov = f0.cov_enu_to_site(np.diag([4.0, 1.0]))  # east uncertain -> site y uncertain
    assert np.allclose(cov, np.diag([1.0, 4.0]))


@settings(max_examples=60, deadline=None)
@given(x=st.floats(-3000, 3000), y=st.floats(-3000, 3000), z=st.floats(-50, 100),
       heading=st.floats(0, 359.99), lat=st.floats(-70, 70), lon=st.floats(-179, 179))
def test_round_trip_site_geodetic_site(x, y, z, heading, lat, lon):
    frame = SiteFrame(lat, lon, 10.0, heading)
    back = frame.to_site(*frame.to_geodetic(x, y, z))
    assert np.allclose(back, (x, y, z), atol=1e-6)


def test_arrays_convert():
    frame = SiteFrame(31.0, 121.0, 0.0, 45.0)
    xs, ys = np.linspace(-100, 100, 7), np.linspace(50, -50, 7)
    lat, lon, h = frame.to_geodetic(xs, ys, np.zeros(7))
    x2, y2, _ = frame.to_site(lat, lon, h)
    assert np.allclose(x2, xs, atol=1e-6) and np.allclose(y2, ys, atol=1e-6)


def test_unknown_datum():
    with pytest.raises(ValueError, match="unknown datum"):
        ellipsoid("ED50")
