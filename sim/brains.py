"""Pick the brain a run drives: the real core when it loads, else the test double."""

from __future__ import annotations

import logging

from sim.runner import Brain
from sim.scenario import Scenario

log = logging.getLogger(__name__)


def make_brain(name: str, scenario: Scenario) -> tuple[Brain, str]:
    """(brain, its name) for `core`, `double` or `auto` (core if it can be built)."""
    if name in ("core", "auto"):
        try:
            from sim.core_brain import CoreBrain

            return CoreBrain(scenario), "core"
        except Exception as exc:  # the core is optional for the simulator itself
            if name == "core":
                raise
            log.warning("the core could not be built (%s); using the test double", exc)
    from sim.brain_double import ReservationBrainDouble

    return ReservationBrainDouble(scenario.site, list(scenario.agvs), list(scenario.cranes)), "double"
