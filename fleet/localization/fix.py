"""What machines report about where they are: one frozen dataclass per kind of fix.

Every measurement carries `machine_id`, `stamp_s` (when it was measured, on the
site's synchronised clock) and `received_s` (when it reached the service). The
difference is the link latency; fixes can arrive out of order over the 5G link.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Source(StrEnum):
    """The positioning source a measurement belongs to (health is kept per source)."""

    ODOMETRY = "odometry"
    UWB = "uwb"
    RFID = "rfid"
    BEIDOU = "beidou"


class FixQuality(StrEnum):
    """GNSS solution type as a receiver reports it (NMEA GGA quality, in words)."""

    NONE = "none"
    SINGLE = "single"
    DGNSS = "dgnss"
    FLOAT = "float"  # RTK float ambiguities
    RTK_FIXED = "rtk_fixed"


# Horizontal 1-sigma per axis (metres) for HDOP = 1, used when a fix has no covariance.
BEIDOU_SIGMA_M = {
    FixQuality.SINGLE: 1.5,
    FixQuality.DGNSS: 0.5,
    FixQuality.FLOAT: 0.25,
    FixQuality.RTK_FIXED: 0.02,
}


@dataclass(frozen=True, slots=True)
class Odometry:
    """Wheel odometry / IMU: forward speed and yaw rate, typically 20-50 Hz."""

    machine_id: str
    stamp_s: float
    received_s: float
    speed_mps: float
    yaw_rate_rps: float
    speed_sigma_mps: float = 0.05
    yaw_rate_sigma_rps: float = 0.02

    source = Source.ODOMETRY


@dataclass(frozen=True, slots=True)
class UwbFix:
    """A position from the indoor positioning system, site frame, with its covariance."""

    machine_id: str
    stamp_s: float
    received_s: float
    x: float
    y: float
    cov_xx: float = 0.01
    cov_xy: float = 0.0
    cov_yy: float = 0.01

    source = Source.UWB


@dataclass(frozen=True, slots=True)
class UwbRanges:
    """Raw ranges from the machine's UWB tag to site anchors (by anchor id)."""

    machine_id: str
    stamp_s: float
    received_s: float
    anchor_ids: tuple[str, ...]
    ranges_m: tuple[float, ...]
    sigma_m: float = 0.1
    tag_height_m: float = 0.5

    source = Source.UWB


@dataclass(frozen=True, slots=True)
class RfidRead:
    """A floor tag read under the vehicle: the tag's surveyed position is the fix."""

    machine_id: str
    stamp_s: float
    received_s: float
    tag_id: str
    reader_range_m: float = 0.1

    source = Source.RFID


@dataclass(frozen=True, slots=True)
class BeidouFix:
    """A BeiDou (GNSS) fix in CGCS2000: geodetic position, solution type, HDOP or cov.

    `cov_en` is the (east-east, east-north, north-north) covariance in m^2 when the
    receiver gives one; otherwise `hdop` scales a per-quality sigma (BEIDOU_SIGMA_M).
    """

    machine_id: str
    stamp_s: float
    received_s: float
    lat_deg: float
    lon_deg: float
    height_m: float
    quality: FixQuality = FixQuality.RTK_FIXED
    hdop: float = 1.0
    cov_en: tuple[float, float, float] | None = None

    source = Source.BEIDOU


Measurement = Odometry | UwbFix | UwbRanges | RfidRead | BeidouFix
