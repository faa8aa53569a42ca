"""Crane traffic with the simulator's cranes: coils from slots to handoffs to docks."""

import numpy as np

from fleet.core.strategies import Stage
from fleet.domain import Leg, LegKind, LegState
from fleet.traffic import FleetTraffic
from maps.loader import bundled_sites, load_site
from sim.crane import CraneFleet
from tests.traffic.fake_fleet import FakeAgv


def test_coil_orders_through_two_cranes_and_agvs():
    site = load_site(bundled_sites()["coil_yard"])
    (bay,) = site.crane_bays
    traffic = FleetTraffic(site, seed=3)
    cranes = CraneFleet(site)
    rng = np.random.default_rng(3)
    agvs = {"agv1": FakeAgv("agv1", "R-0"), "agv2": FakeAgv("agv2", "R-60")}
    for a in agvs.values():
        traffic.on_state(a.state(0.0))
    slots = [s.id for s in bay.slots]
    handoffs = list(bay.handoffs)
    docks = [s.id for s in site.stations if s.kind == "drop"]
    crane_legs, agv_legs = [], []
    for k in range(8):
        src = slots[int(rng.integers(len(slots)))]
        h = handoffs[k % len(handoffs)]
        crane_legs.append(Leg(id=f"C{k}", order_id=f"O{k}", kind=LegKind.CRANE, source=src, destination=h, load_type="coil"))
        agv_legs.append(Leg(id=f"A{k}", order_id=f"O{k}", kind=LegKind.AGV, source=h, destination=docks[k % len(docks)],
                            load_type="coil", after=f"C{k}", state=LegState.PENDING))
    # a naive dispatcher for the test: nearest-free crane by runway side, AGV when crane loaded
    crane_busy: dict[str, str] = {}
    agv_busy: dict[str, str] = {}
    open_crane = list(crane_legs)
    ready_agv: list[Leg] = []
    done: set[str] = set()
    dt = 0.5
    gap_min = np.inf
    for step in range(int(__import__("os").environ.get("RUNWAY_STEPS", "40000"))):
        t = step * dt
        for cid in ("CR1", "CR2"):
            if cid not in crane_busy and open_crane:
                mid = bay.runway_length_m / 2
                pick = next((leg for leg in open_crane if (site.slot_by_id[leg.source].runway_m < mid) == (cid == "CR1")), None)
                if pick is not None:
                    open_crane.remove(pick)
                    traffic.assign(pick, cid, t)
                    crane_busy[cid] = pick.id
        for mid_ in agvs:
            if mid_ not in agv_busy and ready_agv:
                leg = ready_agv.pop(0)
                traffic.assign(leg, mid_, t)
                agv_busy[mid_] = leg.id
        for cmd in traffic.tick(t, 0.05):
            if cmd.machine_id in agvs:
                agvs[cmd.machine_id].apply(cmd)
            else:
                cranes.apply(cmd, t)
        cranes.step(t, dt)
        c1, c2 = cranes.cranes["CR1"], cranes.cranes["CR2"]
        gap_min = min(gap_min, (c2.bridge_m - c2.spec.width_m / 2) - (c1.bridge_m + c1.spec.width_m / 2))
        if step % 2 == 0:
            for a in agvs.values():
                a.step(rng, 2)
        states = [a.state(t) for a in agvs.values()] + [cranes.state(c, t) for c in ("CR1", "CR2")]
        for st in states:
            for p in traffic.on_state(st):
                assert p.stage != Stage.FAILED, p
                if p.stage == Stage.PICKED and p.leg_id.startswith("C"):
                    k = int(p.leg_id[1:])
                    ready_agv.append(agv_legs[k])
                if p.stage == Stage.DROPPED:
                    done.add(p.leg_id)
                    if p.leg_id.startswith("C"):
                        crane_busy.pop(p.machine_id)
                    else:
                        agv_busy.pop(p.machine_id)
        if len(done) == 16:
            break
    assert not cranes.collisions
    assert gap_min >= bay.safety_gap_m - 1e-6, gap_min
    lanes = traffic.lanes
    dbg = {c.spec.id: (c.job and (c.job.leg.id, c.job.phase), c.command and c.command.command_id, c.bridge_m) for c in traffic.runways.cranes.values()}
    dbg2 = {m: (v.job and (v.job.leg.id, v.job.stage, v.job.wait_for_load), v.goal, v.held_at, lanes.exec.reached(v.agent), lanes.exec.released(v.agent), lanes.exec.last(v.agent), agvs[m].node) for m, v in lanes.vehicles.items()}
    assert len(done) == 16, (sorted(done), t, dbg, dbg2, ready_agv and ready_agv[0].id, agv_busy, crane_busy)
