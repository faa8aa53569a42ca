"""Generators of realistic site files: the bundled sites and large ones for benchmarks.

`python -m maps.sitegen` rewrites `maps/sites/*.yaml` from these functions, so the
bundled files stay reproducible; `large_site(...)` builds bigger sites of the same
kinds for dispatch and simulator benchmarks without a file.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import yaml

Site = dict[str, Any]


class _Builder:
    def __init__(self, name: str, description: str, step_s: float = 1.0) -> None:
        self.d: Site = {
            "format": "fleet5g-site",
            "version": 1,
            "name": name,
            "description": description,
            "step_s": step_s,
            "vehicle_shape": {"length_m": 1.4, "width_m": 0.9, "safety_margin_m": 0.25},
            "nodes": [],
            "lanes": [],
            "stations": [],
            "zones": [],
            "rfid_tags": [],
            "uwb_anchors": [],
        }
        self._nodes: dict[str, tuple[float, float]] = {}
        self._pairs: set[tuple[str, str]] = set()

    def node(self, nid: str, x: float, y: float, tag: bool = True) -> str:
        if nid not in self._nodes:
            self._nodes[nid] = (round(x, 3), round(y, 3))
            self.d["nodes"].append({"id": nid, "x": round(x, 3), "y": round(y, 3)})
            if tag:
                self.d["rfid_tags"].append({"id": f"T-{nid}", "x": round(x, 3), "y": round(y, 3)})
        return nid

    def lane(self, a: str, b: str, speed: float, two_way: bool = True, width: float = 1.6) -> None:
        key = (a, b) if not two_way else tuple(sorted((a, b)))
        if key in self._pairs or (b, a) in self._pairs or (a, b) in self._pairs:
            return
        self._pairs.add(key)  # type: ignore[arg-type]
        lane: dict[str, Any] = {"from": a, "to": b, "max_speed_mps": speed, "width_m": width}
        if two_way:
            lane["two_way"] = True
        self.d["lanes"].append(lane)

    def chain(self, ids: list[str], speed: float, two_way: bool = True) -> None:
        for a, b in itertools.pairwise(ids):
            self.lane(a, b, speed, two_way)

    def station(self, sid: str, kind: str, node: str, **extra: Any) -> None:
        self.d["stations"].append({"id": sid, "kind": kind, "node": node, **extra})

    def zone(self, zid: str, kind: str, poly: list[tuple[float, float]], **extra: Any) -> None:
        self.d["zones"].append({"id": zid, "kind": kind, "polygon": [list(p) for p in poly], **extra})

    def anchors(self, x0: float, y0: float, x1: float, y1: float, spacing: float, z: float = 6.0) -> None:
        k = 0
        nx_, ny_ = max(1, round((x1 - x0) / spacing)), max(1, round((y1 - y0) / spacing))
        for i in range(nx_ + 1):
            for j in range(ny_ + 1):
                k += 1
                self.d["uwb_anchors"].append(
                    {"id": f"A{k:02d}", "x": round(x0 + i * (x1 - x0) / nx_, 2), "y": round(y0 + j * (y1 - y0) / ny_, 2), "z": z}
                )


def rect(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def warehouse_site(aisles: int = 11, aisle_len: int = 10, name: str = "Warehouse A") -> Site:
    """A racked warehouse: parallel aisles between rack blocks, a one-way pair of
    corridors along the docks, inbound and outbound docks, chargers and parking."""
    b = _Builder(name, "Racked warehouse for about 30 AGVs: inbound docks (south-west), outbound docks "
                 "(south-east), rack aisles, chargers on the west wall, parking on the east wall.")
    # one-way traffic everywhere, as AGV sites are laid out: the south corridor runs
    # east, the north corridor west, aisles alternate (the outer ones close the loop).
    dx, dy = 6.0, 3.0
    xs = [i * dx for i in range(aisles)]
    top = (aisle_len + 1) * dy
    cols = [k * 3.0 for k in range(int(xs[-1] / 3) + 1)]
    south = [b.node(f"S1-{int(x)}", x, 0.0) for x in cols]
    b.chain(south, 2.0, two_way=False)
    north = [b.node(f"N-{int(x)}", x, top) for x in cols]
    b.chain(north[::-1], 2.0, two_way=False)
    for a, x in enumerate(xs):
        ids = [f"S1-{int(x)}"] + [b.node(f"A{a}-{r}", x, r * dy) for r in range(1, aisle_len + 1)] + [f"N-{int(x)}"]
        northbound = a == aisles - 1 or (a % 2 == 1 and a != 0)
        b.chain(ids if northbound else ids[::-1], 1.0, two_way=False)
        for r in range(1, aisle_len + 1):
            for side, off in (("L", -1.6), ("R", 1.6)):
                if (a == 0 and side == "L") or (a == aisles - 1 and side == "R"):
                    continue
                b.d.setdefault("racks", []).append(
                    {"id": f"R{a:02d}-{r:02d}{side}", "node": f"A{a}-{r}", "x": x + off, "y": r * dy,
                     "levels": 4, "max_weight_kg": 1200}
                )
    # docks on spurs south of the eastbound corridor
    n_docks = max(2, len(cols) // 5)
    for k in range(n_docks):
        x = cols[1 + 2 * k]
        b.node(f"DK-IN{k + 1}", x, -4.0)
        b.lane(f"S1-{int(x)}", f"DK-IN{k + 1}", 1.0)
        b.station(f"IN{k + 1}", "pickup", f"DK-IN{k + 1}", load_types=["pallet", "tote"])
        x2 = cols[-2 - 2 * k]
        b.node(f"DK-OUT{k + 1}", x2, -4.0)
        b.lane(f"S1-{int(x2)}", f"DK-OUT{k + 1}", 1.0)
        b.station(f"OUT{k + 1}", "drop", f"DK-OUT{k + 1}", load_types=["pallet", "tote"])
    # chargers west of aisle 0, parking east of the last aisle
    for k in range(1, 6):
        y = 2 * k * dy
        b.node(f"CH{k}", -2.5, y)
        b.lane(f"A0-{2 * k}", f"CH{k}", 0.5)
        b.station(f"CHG{k}", "charger", f"CH{k}")
        b.node(f"PK{k}", xs[-1] + 2.5, y)
        b.lane(f"A{aisles - 1}-{2 * k}", f"PK{k}", 0.5)
        b.station(f"PARK{k}", "parking", f"PK{k}")
    # work cells along the north corridor: pick stations for totes
    for k, x in enumerate(cols[2:-2:4]):
        b.node(f"WC{k + 1}", x, top + 3.0)
        b.lane(f"N-{int(x)}", f"WC{k + 1}", 1.0)
        b.station(f"CELL{k + 1}", "drop", f"WC{k + 1}")
    b.zone("DOCKS-SLOW", "speed_limit", rect(-1, -5.5, xs[-1] + 1, -1.5), speed_limit_mps=1.0)
    b.zone("HAZMAT", "hazardous", rect(xs[-3] - 3, dy * 3 - 1, xs[-2] + 3, dy * 7 + 1))
    b.zone("MAINT-A", "maintenance", rect(xs[-1] - 1, dy * 2 - 1, xs[-1] + 1, dy * 4 + 1))
    b.zone("OFFICE", "no_go", rect(xs[-1] + 6, 0, xs[-1] + 20, top))
    b.anchors(-3, -7, xs[-1] + 3, top + 4, 15.0)
    b.d["geodetic_anchor"] = {"lat_deg": 31.2304, "lon_deg": 121.4737, "height_m": 4.5, "heading_deg": 90.0, "datum": "CGCS2000"}
    return b.d


def coil_yard_site(runway_m: float = 120.0, cranes: int = 2, name: str = "Coil Yard 1") -> Site:
    """A steel coil yard: one crane bay whose cranes share a runway, two-tier coil
    slots, handoff stations on the in-bay AGV aisle, docks and chargers outside."""
    b = _Builder(name, "Steel coil yard: cranes share one runway over two-tier coil slots; coils are "
                 "handed to coil-transport AGVs at handoff stations and carried to the shipping docks.")
    # a one-way loop: the in-bay aisle runs west just outside the slots, the yard road
    # runs east; heavy coil transporters never meet head-on. One-way links between the
    # two, alternately down and up every 20 m, make a ladder, so no trip goes the whole
    # way round. Handoffs, docks, mills, chargers and parking are straight spurs 10 m
    # apart, so a vehicle standing at one blocks neither the loop nor its neighbours.
    aisle_y, road_y, spur = -6.0, -25.0, 8.0
    xs = [x * 10.0 for x in range(int(runway_m / 10) + 1)]
    aisle = [b.node(f"B-{int(x)}", x, aisle_y) for x in xs]
    b.chain(aisle[::-1], 2.0, two_way=False)
    road = [b.node(f"R-{int(x)}", x, road_y) for x in xs]
    b.chain(road, 3.0, two_way=False)
    west, east, middle = xs[0], xs[-1], xs[len(xs) // 2]
    b.node("L-W", west - 6.0, (aisle_y + road_y) / 2)
    b.lane(f"B-{int(west)}", "L-W", 2.0, two_way=False)
    b.lane("L-W", f"R-{int(west)}", 2.0, two_way=False)
    b.node("L-E", east + 6.0, (aisle_y + road_y) / 2)
    b.lane(f"R-{int(east)}", "L-E", 2.0, two_way=False)
    b.lane("L-E", f"B-{int(east)}", 2.0, two_way=False)
    b.node("L-M", middle, (aisle_y + road_y) / 2)
    b.lane(f"B-{int(middle)}", "L-M", 2.0, two_way=False)
    b.lane("L-M", f"R-{int(middle)}", 2.0, two_way=False)
    for k, x in enumerate(xs[2:-1:2]):  # 20 down, 40 up, 60 (L-M) down, 80 up, 100 down
        if x == middle:
            continue
        down = k % 2 == 0
        b.lane(f"B-{int(x)}", f"R-{int(x)}", 2.0, two_way=False) if down else b.lane(f"R-{int(x)}", f"B-{int(x)}", 2.0, two_way=False)
    handoffs = [runway_m * f for f in (0.25, 0.5, 0.75)]
    for k, hx in enumerate(handoffs, start=1):
        hid = f"HO{k}"
        b.node(hid, hx + 5.0, aisle_y + spur)
        b.lane(f"B-{int(hx)}", hid, 1.0)
        b.station(f"H{k}", "handoff", hid, bay="BAY1", runway_m=hx + 5.0, cross_m=aisle_y + spur, load_types=["coil"])

    def spur_at(x: float, nid: str) -> str:
        b.node(nid, x, road_y - spur)
        b.lane(f"R-{int(x)}", nid, 1.0)
        return nid

    # along the road: mills at the ends, docks between them, chargers and parking between those
    for k, x in enumerate((xs[1], xs[-2]), start=1):
        b.station(f"MILL{k}", "pickup", spur_at(x, f"ML{k}"), load_types=["coil"])
    for k, x in enumerate(xs[3:-2:2], start=1):
        b.station(f"DOCK{k}", "drop", spur_at(x, f"DK{k}"), load_types=["coil"])
    for k, x in enumerate(xs[0:5:2], start=1):
        b.station(f"CHG{k}", "charger", spur_at(x, f"CH{k}"))
    for k, x in enumerate(xs[6::2], start=1):
        b.station(f"PARK{k}", "parking", spur_at(x, f"PK{k}"))
    slots = []
    for row, cross in enumerate((8.0, 12.0, 16.0, 20.0, 24.0), start=1):
        for k, along in enumerate(range(10, int(runway_m) - 5, 3), start=1):
            slots.append({"id": f"S{row}-{k:02d}", "runway_m": float(along), "cross_m": cross, "tiers": 2, "max_weight_kg": 30000})
    width = 10.0
    homes = [width / 2 + 2 + i * (runway_m - width - 4) / max(1, cranes - 1) for i in range(cranes)]
    b.d["crane_bays"] = [{
        "id": "BAY1",
        "runway": {"start": [0.0, 0.0], "end": [runway_m, 0.0]},
        "span_m": 30.0,
        "safety_gap_m": 5.0,
        "hook_height_m": 12.0,
        "cranes": [
            {"id": f"CR{i + 1}", "home_m": round(h, 2), "width_m": width, "payload_kg": 35000,
             "bridge_speed_mps": 1.2, "trolley_speed_mps": 0.6, "hoist_speed_mps": 0.15,
             "bridge_accel_mps2": 0.15, "pick_s": 25.0, "drop_s": 20.0, "load_types": ["coil"]}
            for i, h in enumerate(homes)
        ],
        "slots": slots,
    }]
    b.zone("DOCK-SLOW", "speed_limit", rect(-2, road_y - spur - 2, runway_m + 10, road_y - 3), speed_limit_mps=1.0)
    b.zone("BAY-MAINT", "maintenance", rect(runway_m - 15, 0, runway_m, 30))
    b.zone("OUTSIDE", "outdoor", rect(-45, road_y - 14, runway_m + 25, road_y + 5))
    b.anchors(-10, aisle_y - 4, runway_m + 10, 30, 20.0, z=14.0)
    b.d["geodetic_anchor"] = {"lat_deg": 31.3975, "lon_deg": 121.4870, "height_m": 5.0, "heading_deg": 75.0, "datum": "CGCS2000"}
    b.d["vehicle_shape"] = {"length_m": 6.0, "width_m": 2.6, "safety_margin_m": 0.5}
    return b.d


def port_yard_site(cols: int = 10, rows: int = 6, spacing: float = 40.0, name: str = "Port Yard East") -> Site:
    """An outdoor port/plant yard on BeiDou: a quay with one-way lanes, a road grid
    between container blocks, a covered shed (indoor, UWB), a dangerous-goods area."""
    b = _Builder(name, "Outdoor port yard: AGVs shuttle containers from the quay to storage blocks on a road "
                 "grid under BeiDou, with a covered shed (indoor positioning) and a dangerous-goods area.")
    for i in range(cols):
        for j in range(rows):
            b.node(f"G{i}-{j}", i * spacing, j * spacing)
    # storage blocks: each on a lay-by beside an east-bound road (in at one end, out at the
    # other), so a carrier at a block neither stands on the road nor reverses out of a dead
    # end; the transfer point lies 10 m off the road, clear of the traffic passing by
    blocks = [(i, j) for i in range(1, cols - 1, 3) for j in range(2, rows - 1, 2)]
    # a one-way Manhattan grid (even rows east, odd rows west, even columns south, odd
    # columns north): long container carriers never meet head-on; needs an even count
    # of rows and columns to be strongly connected, which `maps.checks` verifies.
    for j in range(rows):
        ids: list[str] = []
        for i in range(cols):
            ids.append(f"G{i}-{j}")
            if (i, j) in blocks:
                k = blocks.index((i, j)) + 1
                ids += [b.node(f"BK{k}-IN", i * spacing + 10, j * spacing),
                        b.node(f"BK{k}-EXIT", (i + 1) * spacing - 10, j * spacing)]
        b.chain(ids if j % 2 == 0 else ids[::-1], 4.0 if j < 2 else 5.0, two_way=False)
    for i in range(cols):
        ids = [f"G{i}-{j}" for j in range(rows)]
        b.chain(ids[::-1] if i % 2 == 0 else ids, 4.0 if i % 2 == 0 else 3.0, two_way=False)
    # quay cranes hand over at quay-side pickups
    for k, i in enumerate(range(1, cols - 1, 2), start=1):
        b.node(f"Q{k}", i * spacing, -8.0)
        b.lane(f"G{i}-0", f"Q{k}", 2.0)
        b.station(f"QUAY{k}", "pickup", f"Q{k}", load_types=["container"])
    for k, (i, j) in enumerate(blocks, start=1):
        b.node(f"BK{k}", i * spacing + spacing / 2, j * spacing + 10)
        b.lane(f"BK{k}-IN", f"BK{k}", 2.0, two_way=False)
        b.lane(f"BK{k}", f"BK{k}-EXIT", 2.0, two_way=False)
        b.station(f"BLOCK{k}", "drop", f"BK{k}", load_types=["container"])
        b.station(f"BLOCK{k}-OUT", "pickup", f"BK{k}", load_types=["container"])
    # gate
    b.node("GATE", (cols - 1) * spacing + 15, (rows - 1) * spacing)
    b.lane(f"G{cols - 1}-{rows - 1}", "GATE", 2.0)
    b.station("GATE-OUT", "drop", "GATE", load_types=["container", "pallet"])
    # covered shed at the west end: indoor, UWB
    shed_x1 = spacing * 1.5
    for k in range(1, 4):
        b.node(f"SH{k}", 6.0, (rows - 1) * spacing - 8.0 * k)
        b.lane(f"G0-{rows - 1}" if k == 1 else f"SH{k - 1}", f"SH{k}", 1.5)
    b.station("SHED-PICK", "pickup", "SH3", load_types=["pallet"])
    b.station("SHED-DROP", "drop", "SH2", load_types=["pallet"])
    # chargers and parking on short spurs off the outer roads, at both ends of the yard
    xmax, ymax = (cols - 1) * spacing, (rows - 1) * spacing
    for k, (x, col, j) in enumerate(((-10.0, 0, 2), (-10.0, 0, 3), (xmax + 10, cols - 1, 1), (xmax + 10, cols - 1, 3)),
                                    start=1):
        b.node(f"CH{k}", x, j * spacing)
        b.lane(f"G{col}-{j}", f"CH{k}", 1.0)
        b.station(f"CHG{k}", "charger", f"CH{k}")
    for k, j in enumerate((2, 4), start=1):
        b.node(f"PK{k}", xmax + 10, spacing * j)
        b.lane(f"G{cols - 1}-{j}", f"PK{k}", 1.0)
        b.station(f"PARK{k}", "parking", f"PK{k}")
    shed = rect(-2, ymax - 30, shed_x1 - 18, ymax + 4)
    b.zone("YARD", "outdoor", [(-15, -15), (xmax + 25, -15), (xmax + 25, ymax + 10), (shed[2][0], ymax + 10),
                                (shed[2][0], shed[0][1]), (-15, shed[0][1])])
    b.zone("DG-AREA", "hazardous", rect(xmax - spacing * 2 - 3, spacing * 2 + 3, xmax + 3, spacing * 4 - 3))
    b.zone("GATE-SLOW", "speed_limit", rect(xmax - 5, ymax - 5, xmax + 20, ymax + 5), speed_limit_mps=2.0)
    b.zone("QUAY-ONEWAY", "one_way", rect(-5, -3, xmax + 5, 3), direction_deg=0.0)
    b.zone("RAIL-SIDING", "no_go", rect(xmax + 30, 0, xmax + 40, ymax))
    b.anchors(-2, ymax - 30, shed_x1 - 18, ymax + 4, 10.0, z=5.0)
    b.d["geodetic_anchor"] = {"lat_deg": 29.9355, "lon_deg": 121.8543, "height_m": 3.0, "heading_deg": 60.0, "datum": "CGCS2000"}
    b.d["vehicle_shape"] = {"length_m": 12.5, "width_m": 3.0, "safety_margin_m": 0.6}
    return b.d


def large_site(aisles: int = 60, aisle_len: int = 20, bays: int = 3, cranes_per_bay: int = 2) -> Site:
    """A large combined site for benchmarks: a big warehouse with `bays` crane bays
    (coil storage) attached to its north corridor through handoff stations."""
    d = warehouse_site(aisles=aisles, aisle_len=aisle_len, name=f"Large site {aisles}x{aisle_len}")
    top = (aisle_len + 1) * 3.0
    length = 100.0
    d["crane_bays"] = []
    nodes = {n["id"] for n in d["nodes"]}
    for k in range(bays):
        x0 = 30.0 + k * (length + 20)
        y0 = top + 10.0
        bay = f"BAY{k + 1}"
        handoff_nodes = []
        for h, f in enumerate((0.3, 0.7), start=1):
            hx = x0 + length * f
            nid = f"{bay}-H{h}"
            d["nodes"].append({"id": nid, "x": round(hx, 2), "y": y0 + 2})
            # connect to the nearest north-corridor node
            cx = 3.0 * round(hx / 3.0)
            cid = f"N-{int(cx)}"
            if cid not in nodes:
                continue
            d["lanes"].append({"from": cid, "to": nid, "two_way": True, "max_speed_mps": 1.5,
                               "length_m": round(math.hypot(hx - cx, y0 + 2 - top) + 0.01, 3)})
            d["stations"].append({"id": nid, "kind": "handoff", "node": nid, "bay": bay,
                                  "runway_m": round(length * f, 2), "cross_m": 2.0, "load_types": ["coil"]})
            handoff_nodes.append(nid)
        w = 10.0
        d["crane_bays"].append({
            "id": bay, "runway": {"start": [x0, y0], "end": [x0 + length, y0]}, "span_m": 30.0,
            "safety_gap_m": 5.0, "hook_height_m": 12.0,
            "cranes": [{"id": f"{bay}-C{i + 1}", "home_m": round(w / 2 + 2 + i * (length - w - 4) / max(1, cranes_per_bay - 1), 2),
                        "width_m": w, "payload_kg": 35000, "load_types": ["coil"]} for i in range(cranes_per_bay)],
            "slots": [{"id": f"{bay}-S{r}-{c:02d}", "runway_m": float(c * 3 + 8), "cross_m": 8.0 + 4 * r, "tiers": 2,
                       "max_weight_kg": 30000} for r in range(4) for c in range(28)],
        })
    return d


def main() -> None:
    out = Path(__file__).parent / "sites"
    out.mkdir(exist_ok=True)
    for name, fn in (("warehouse", warehouse_site), ("coil_yard", coil_yard_site), ("port_yard", port_yard_site)):
        data = fn()
        header = f"# {data['name']}: generated by `python -m maps.sitegen`; edit the generator, not this file.\n"
        (out / f"{name}.yaml").write_text(header + yaml.safe_dump(data, sort_keys=False, width=120), encoding="utf-8")
        print(f"wrote {out / name}.yaml")


if __name__ == "__main__":
    main()
