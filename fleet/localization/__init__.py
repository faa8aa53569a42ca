"""Localization: one pose per machine from odometry, UWB, RFID and BeiDou.

`Fusion` is the front the core calls (`ingest`, `pose`, `pose_quality`, `health`);
`ekf.fuse_batch` is the compiled fleet-scale kernel under it; `geodesy.SiteFrame`
converts between the site frame and CGCS2000/WGS84.
"""

from fleet.localization.fix import (
    BeidouFix,
    FixQuality,
    Measurement,
    Odometry,
    RfidRead,
    Source,
    UwbFix,
    UwbRanges,
)
from fleet.localization.fusion import (
    Fusion,
    FusionConfig,
    Outcome,
    Pose,
    PoseQuality,
    Reason,
    UnknownMachine,
)
from fleet.localization.geodesy import SiteFrame

__all__ = [
    "BeidouFix",
    "FixQuality",
    "Fusion",
    "FusionConfig",
    "Measurement",
    "Odometry",
    "Outcome",
    "Pose",
    "PoseQuality",
    "Reason",
    "RfidRead",
    "SiteFrame",
    "Source",
    "UnknownMachine",
    "UwbFix",
    "UwbRanges",
]
