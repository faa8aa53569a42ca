"""An independent check of one dispatch round's decisions (shares no code with them).

`validate_assignments` answers with every violation it finds (empty list: valid):
every leg goes to a vehicle that exists, may work and can carry it; no vehicle and
no leg is used twice; no charger is booked twice, out of order or already taken;
every handoff has both machines: the AGV is at a crane -> AGV handoff before the
crane sets the load down, and the crane of an AGV -> crane handoff picks only after
the AGV has put the load down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from fleet.dispatch.assignment import Assignment
from fleet.dispatch.charging import ChargePlan, Charger
from fleet.domain import Leg, LegKind, LegState, Mode, Vehicle

TOL_S = 1e-3


@dataclass(frozen=True)
class CraneLegTiming:
    """When the crane of a crane leg picks and sets down (from the runway schedule)."""

    crane_id: str
    pick_s: float
    drop_s: float  # starts lowering the load at the destination


def validate_assignments(
    assignments: Sequence[Assignment],
    legs: Iterable[Leg],
    vehicles: Iterable[Vehicle],
    charge_plans: Sequence[ChargePlan] = (),
    chargers: Iterable[Charger] = (),
    crane_timings: Mapping[str, CraneLegTiming] | None = None,
) -> list[str]:
    out: list[str] = []
    leg_by = {leg.id: leg for leg in legs}
    veh_by = {v.id: v for v in vehicles}
    used_vehicle: dict[str, str] = {}
    used_leg: set[str] = set()

    def take(vehicle_id: str, what: str) -> None:
        if vehicle_id in used_vehicle:
            out.append(f"vehicle {vehicle_id!r} has two legs this round ({used_vehicle[vehicle_id]!r} and {what!r})")
        used_vehicle[vehicle_id] = what

    for a in assignments:
        leg = leg_by.get(a.leg_id)
        v = veh_by.get(a.vehicle_id)
        if leg is None:
            out.append(f"assignment of unknown leg {a.leg_id!r}")
            continue
        if a.leg_id in used_leg:
            out.append(f"leg {a.leg_id!r} assigned twice")
        used_leg.add(a.leg_id)
        if leg.kind != LegKind.AGV:
            out.append(f"leg {leg.id!r} is a {leg.kind.value} leg, not an AGV leg")
        if leg.state not in (LegState.OPEN, LegState.PENDING):
            out.append(f"leg {leg.id!r} is {leg.state.value}, not open")
        if v is None:
            out.append(f"leg {leg.id!r} given to unknown vehicle {a.vehicle_id!r}")
            continue
        take(v.id, leg.id)
        if v.mode != Mode.AUTO or not v.link_ok:
            out.append(f"leg {leg.id!r} given to vehicle {v.id!r} in mode {v.mode.value} (link {'ok' if v.link_ok else 'lost'})")
        if not v.capabilities.can_carry(leg.load_type, leg.weight_kg, leg.hazardous):
            out.append(f"vehicle {v.id!r} cannot carry leg {leg.id!r} ({leg.weight_kg:g} kg {leg.load_type!r}{' hazardous' if leg.hazardous else ''})")
        if not (a.empty_travel_m >= 0 and a.empty_travel_m < float("inf")):
            out.append(f"leg {leg.id!r}: vehicle {v.id!r} cannot reach the pickup")
        if crane_timings is not None and leg.after is not None:
            before = leg_by.get(leg.after)
            if before is not None and before.kind == LegKind.CRANE:
                tm = crane_timings.get(before.id)
                if tm is None and before.state in (LegState.OPEN, LegState.PENDING):
                    out.append(f"handoff {leg.handoff!r}: AGV leg {leg.id!r} assigned but crane leg {before.id!r} has no crane")
                elif tm is not None and a.eta_s > tm.drop_s + TOL_S:
                    out.append(
                        f"handoff {leg.handoff!r}: vehicle {v.id!r} arrives at {a.eta_s:.1f} s, after crane {tm.crane_id!r} sets the load down at {tm.drop_s:.1f} s"
                    )
        if crane_timings is not None:
            for nxt in leg_by.values():
                if nxt.after == leg.id and nxt.kind == LegKind.CRANE:
                    tm = crane_timings.get(nxt.id)
                    done = a.done_s
                    if tm is not None and tm.pick_s + TOL_S < done:
                        out.append(
                            f"handoff {leg.destination!r}: crane {tm.crane_id!r} picks at {tm.pick_s:.1f} s before vehicle {v.id!r} sets the load down at {done:.1f} s"
                        )
    charger_by = {c.station_id: c for c in chargers}
    booked: dict[str, str] = {}
    for p in charge_plans:
        v = veh_by.get(p.vehicle_id)
        if v is None:
            out.append(f"charge plan for unknown vehicle {p.vehicle_id!r}")
        else:
            take(v.id, p.leg.id)
        c = charger_by.get(p.charger_id)
        if c is None:
            out.append(f"charge plan to unknown charger {p.charger_id!r}")
            continue
        if not c.in_service:
            out.append(f"charger {c.station_id!r} is out of order but booked for {p.vehicle_id!r}")
        if c.occupant is not None and c.occupant != p.vehicle_id:
            out.append(f"charger {c.station_id!r} is taken by {c.occupant!r} but booked for {p.vehicle_id!r}")
        if c.station_id in booked:
            out.append(f"charger {c.station_id!r} booked twice ({booked[c.station_id]!r} and {p.vehicle_id!r})")
        booked[c.station_id] = p.vehicle_id
    return out
