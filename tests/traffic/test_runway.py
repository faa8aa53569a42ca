"""Crane traffic with the simulator's cranes: coils from slots to handoffs to docks."""

import numpy as np

from fleet.core.strategies import Stage
from fleet.domain import Leg, LegKind, LegState
from fleet.traffic import FleetTraffic
from maps.loader import bundled_sites, load_site
from sim.crane import CraneFleet
from tests.traffic.fake_fleet import FakeAgv


def _drive_cranes(traffic, cranes, ids, steps, dt=0.5, moves=None):
    """Tick, step and report the given cranes until one sets its load down; the stages seen."""
    stages = []
    for step in range(steps):
        t = step * dt
        for cmd in traffic.tick(t, 0.05):
            if moves is not None:
                moves.extend(m.kind for m in cmd.moves)
            cranes.apply(cmd, t)
        cranes.step(t, dt)
        for cid in ids:
            stages.extend(p.stage for p in traffic.on_state(cranes.state(cid, t)))
        if Stage.DROPPED in stages:
            break
    return stages


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


def test_a_crane_recovered_with_the_coil_on_the_hook_drops_it_without_lifting_again():
    # after a restart the core re-assigns a loaded crane leg: the crane holds the coil, so
    # it goes to the destination and sets it down; it must not go back for another lift
    site = load_site(bundled_sites()["coil_yard"])
    (bay,) = site.crane_bays
    traffic = FleetTraffic(site, seed=1)
    cranes = CraneFleet(site)
    slot = next(s for s in bay.slots if s.runway_m < bay.runway_length_m / 2)
    dest = next(s for s in bay.slots if s.runway_m < bay.runway_length_m / 2 and s.id != slot.id)
    cranes.cranes["CR1"].load_id = "COIL-7"
    leg = Leg(id="C1", order_id="O1", kind=LegKind.CRANE, source=slot.id, destination=dest.id, load_type="coil",
              state=LegState.LOADED, machine_id="CR1", extra={"load_id": "COIL-7"})
    traffic.on_state(cranes.state("CR1", 0.0))
    traffic.assign(leg, "CR1", 0.0)
    kinds: list = []
    stages = _drive_cranes(traffic, cranes, ("CR1",), 4000, moves=kinds)
    assert Stage.DROPPED in stages and Stage.PICKED not in stages, stages
    assert "pick" not in [str(k.value) for k in kinds], kinds
    assert cranes.cranes["CR1"].load_id is None


def test_an_idle_crane_in_the_way_backs_off_on_its_own_side_of_the_runway():
    # CR1 idles at 65 m (after a job at H2), CR2 at 80.5 m must set a coil down at 31 m:
    # CR1 has to clear the way by going lower; it can never get round CR2 to the far side
    site = load_site(bundled_sites()["coil_yard"])
    (bay,) = site.crane_bays
    traffic = FleetTraffic(site, seed=1)
    cranes = CraneFleet(site)
    assert not cranes.place({"CR1": (65.0, 15.0, None), "CR2": (80.5, 15.0, "COIL-1")})
    src = next(s for s in bay.slots if s.runway_m > 85)
    dst = next(s for s in bay.slots if abs(s.runway_m - 31.0) < 0.1)
    leg = Leg(id="C1", order_id="O1", kind=LegKind.CRANE, source=src.id, destination=dst.id, load_type="coil",
              state=LegState.LOADED, machine_id="CR2")
    for cid in ("CR1", "CR2"):
        traffic.on_state(cranes.state(cid, 0.0))
    traffic.assign(leg, "CR2", 0.0)
    stages = _drive_cranes(traffic, cranes, ("CR1", "CR2"), 3000)
    assert Stage.DROPPED in stages, {c: x.bridge_m for c, x in cranes.cranes.items()}
    assert not cranes.collisions and cranes.cranes["CR1"].bridge_m < 31.0


def test_a_crane_makes_way_up_to_the_runway_end():
    # CR1 holds a coil for a slot at 100 m; CR2 idles at 110.5 m. It has to go to the very end
    # of the runway (115 m, its edge at 120 m) to leave the gap: there is no half metre to spare
    site = load_site(bundled_sites()["coil_yard"])
    (bay,) = site.crane_bays
    traffic = FleetTraffic(site, seed=1)
    cranes = CraneFleet(site)
    assert not cranes.place({"CR1": (95.0, 15.0, "COIL-1"), "CR2": (110.5, 15.0, None)})
    dst = next(s for s in bay.slots if abs(s.runway_m - 100.0) < 0.1)
    src = next(s for s in bay.slots if abs(s.runway_m - 94.0) < 0.1)
    leg = Leg(id="C1", order_id="O1", kind=LegKind.CRANE, source=src.id, destination=dst.id, load_type="coil",
              state=LegState.LOADED, machine_id="CR1")
    for cid in ("CR1", "CR2"):
        traffic.on_state(cranes.state(cid, 0.0))
    traffic.assign(leg, "CR1", 0.0)
    stages = _drive_cranes(traffic, cranes, ("CR1", "CR2"), 2000)
    assert Stage.DROPPED in stages, {c: x.bridge_m for c, x in cranes.cranes.items()}
    assert not cranes.collisions
