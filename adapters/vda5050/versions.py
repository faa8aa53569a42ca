"""The protocol versions this adapter speaks, side by side."""

from __future__ import annotations

from adapters.errors import AdapterError
from adapters.vda5050 import v2_0, v2_1
from adapters.vda5050.mapping import Profile

PROFILES: dict[str, Profile] = {p.version: p for p in (v2_0.PROFILE, v2_1.PROFILE)}


def profile(version: str) -> Profile:
    """The profile of `version` ("2.0", "2.0.0", "2.1", "2.1.0")."""
    full = version if version.count(".") == 2 else f"{version}.0"
    try:
        return PROFILES[full]
    except KeyError:
        raise AdapterError(f"VDA 5050 version {version!r} is not spoken here "
                           f"(speaks {', '.join(PROFILES)})") from None
