"""Scenario files (YAML, format `fleet5g-scenario` version 1) for the simulator.

A scenario names a site (bundled name or a path relative to the scenario file), a
fleet (groups of AGVs; the cranes come from the site's bays), order streams, the
network and fault profiles, the duration and the seed. Loading checks the JSON
Schema first, then references (start nodes, places, fault targets), and every error
names the file, the place in it and the problem, as `maps.loader` does.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field, fields
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import yaml

from fleet.errors import FleetError
from maps.errors import SiteModelError
from maps.loader import load_site, resolve_site
from maps.site import Site, StationKind, ZoneKind
from sim.agv import AgvSpec
from sim.faults import FaultEvent, FaultKind, FaultRate, schedule
from sim.network import LinkProfile, Outage
from sim.orders import Order, OrderStream, PlaceError, demand, resolve_places

SCENARIOS_DIR = Path(__file__).parent / "scenarios"


class ScenarioFileError(FleetError):
    """A scenario file that is malformed or refers to things that do not exist."""

    kind = "scenario-file"

    def __init__(self, file: str, where: str, problem: str) -> None:
        self.file = file
        self.where = where
        self.problem = problem
        super().__init__(f"{file}: {where}: {problem}" if where else f"{file}: {problem}")


@dataclass(frozen=True)
class Scenario:
    name: str
    file: str
    site: Site
    agvs: tuple[AgvSpec, ...]
    cranes: tuple[str, ...]
    streams: tuple[OrderStream, ...]
    link: LinkProfile
    fixed_faults: tuple[FaultEvent, ...] = ()
    fault_rates: tuple[FaultRate, ...] = ()
    duration_s: float = 8 * 3600.0
    seed: int = 0
    dt_s: float = 0.5
    plan_period_s: float = 1.0
    state_period_s: float = 1.0
    idle_state_period_s: float = 10.0
    check_period_s: float = 1.0
    deadlock_s: float = 180.0
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def with_duration(self, duration_s: float) -> Scenario:
        from dataclasses import replace

        return replace(self, duration_s=duration_s)

    def with_fleet_size(self, agvs: int) -> Scenario:
        """The scenario with `agvs` AGVs in all, shared over its AGV groups as their counts are.

        Sizing studies vary only the fleet: the site, demand, link and faults stay, and
        this run's duration and seed carry over. Rebuilt from the file's data so start
        nodes are placed and fault targets checked as for a written count.
        """
        from dataclasses import replace

        if agvs < 1:
            raise ScenarioFileError(self.file, "fleet.agvs", f"a fleet needs at least 1 AGV, not {agvs}")
        data = copy.deepcopy(self.raw)
        groups = data["fleet"]["agvs"]
        counts = _share(agvs, [int(g.get("count", 1)) for g in groups])
        data["fleet"]["agvs"] = [{**g, "count": c} for g, c in zip(groups, counts, strict=True) if c]
        sized = scenario_from_dict(data, self.file, site=self.site)
        return replace(sized, duration_s=self.duration_s, seed=self.seed)

    def orders(self) -> list[tuple[float, Order]]:
        """The shift's demand, fixed by the seed."""
        return demand(list(self.streams), self.duration_s, np.random.default_rng([self.seed, 2]), self.name)

    def faults(self) -> list[FaultEvent]:
        """Fixed faults plus the draws from the fault rates, fixed by the seed."""
        chargers = [s.id for s in self.site.stations if s.kind == StationKind.CHARGER]
        return schedule(list(self.fixed_faults), list(self.fault_rates), agvs=[a.id for a in self.agvs],
                        cranes=list(self.cranes), chargers=chargers, duration_s=self.duration_s,
                        rng=np.random.default_rng([self.seed, 3]))


def _share(total: int, weights: list[int]) -> list[int]:
    """`total` split over `weights` in proportion, whole numbers (largest remainder, first wins a tie)."""
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    out = [math.floor(x) for x in exact]
    by_rest = sorted(range(len(weights)), key=lambda i: (-(exact[i] - out[i]), i))
    for i in by_rest[: total - sum(out)]:
        out[i] += 1
    return out


@cache
def scenario_schema() -> dict[str, Any]:
    return json.loads(resources.files("sim").joinpath("scenario.schema.json").read_text(encoding="utf-8"))


def bundled_scenarios() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SCENARIOS_DIR.glob("*.yaml"))}


def resolve_scenario(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.exists():
        return p
    found = bundled_scenarios()
    if str(name_or_path) in found:
        return found[str(name_or_path)]
    raise ScenarioFileError(str(name_or_path), "", f"no such file or bundled scenario (bundled: {', '.join(found)})")


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioFileError(str(path), "", f"cannot read scenario file: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioFileError(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    return scenario_from_dict(data, str(path), base_dir=path.parent)


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def scenario_from_dict(data: Any, file: str = "<scenario>", base_dir: Path | None = None,
                       site: Site | None = None) -> Scenario:
    """Validate and build; `site` skips loading the named site (for generated sites)."""
    validator = jsonschema.Draft202012Validator(scenario_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        err = errors[0]
        raise ScenarioFileError(file, _where(err.absolute_path), err.message)
    return _Builder(file, data, base_dir or Path(".")).build(site)


_AGV_FIELDS = {f.name for f in fields(AgvSpec)} - {"id", "start_node"}


class _Builder:
    def __init__(self, file: str, data: dict[str, Any], base_dir: Path) -> None:
        self.file, self.d, self.base_dir = file, data, base_dir

    def fail(self, where: str, problem: str) -> ScenarioFileError:
        return ScenarioFileError(self.file, where, problem)

    def build(self, site: Site | None) -> Scenario:
        d = self.d
        if site is None:
            site = self._site(d["site"])
        seed = int(d.get("seed", 0))
        agvs = self._agvs(site, seed)
        exclude = set(d["fleet"].get("cranes", {}).get("exclude", []))
        all_cranes = [c.id for b in site.crane_bays for c in b.cranes]
        for j, cid in enumerate(sorted(exclude)):
            if cid not in all_cranes:
                raise self.fail(f"fleet.cranes.exclude[{j}]", f"site {site.name!r} has no crane {cid!r}")
        cranes = tuple(c for c in all_cranes if c not in exclude)
        streams = tuple(self._stream(site, i, s) for i, s in enumerate(d.get("orders", [])))
        net = d.get("network", {})
        outages = tuple(
            Outage(float(o["start_s"]), float(o["start_s"]) + float(o["duration_s"]),
                   tuple(o.get("machines", ())), tuple(o["area"]) if "area" in o else None)
            for o in net.get("outages", [])
        )
        machines = {a.id for a in agvs} | set(cranes)
        for i, o in enumerate(outages):
            for m in o.machines:
                if m not in machines:
                    raise self.fail(f"network.outages[{i}].machines", f"no machine {m!r} in this scenario")
        link = LinkProfile(
            latency_ms=float(net.get("latency_ms", 8.0)),
            jitter_ms=float(net.get("jitter_ms", 3.0)),
            state_loss=float(net.get("state_loss", 0.0)),
            command_loss=float(net.get("command_loss", 0.0)),
            retransmit_ms=float(net.get("retransmit_ms", 300.0)),
            outages=outages,
        )
        faults = d.get("faults", {})
        chargers = {s.id for s in site.stations if s.kind == StationKind.CHARGER}
        fixed = []
        for i, f in enumerate(faults.get("scheduled", [])):
            self._check_target(f"faults.scheduled[{i}].target", FaultKind(f["kind"]), f["target"],
                               {a.id for a in agvs}, set(cranes), chargers)
            fixed.append(FaultEvent(float(f["at_s"]), FaultKind(f["kind"]), f["target"], float(f["duration_s"])))
        rates = []
        for i, f in enumerate(faults.get("random", [])):
            for j, t in enumerate(f.get("targets", [])):
                self._check_target(f"faults.random[{i}].targets[{j}]", FaultKind(f["kind"]), t,
                                   {a.id for a in agvs}, set(cranes), chargers)
            rates.append(FaultRate(FaultKind(f["kind"]), float(f["per_machine_h"]), float(f["duration_s"]),
                                   tuple(f.get("targets", ()))))
        safety = d.get("safety", {})
        return Scenario(
            name=d["name"],
            file=self.file,
            site=site,
            agvs=tuple(agvs),
            cranes=cranes,
            streams=streams,
            link=link,
            fixed_faults=tuple(fixed),
            fault_rates=tuple(rates),
            duration_s=float(d.get("duration_h", 8.0)) * 3600.0,
            seed=seed,
            dt_s=float(d.get("dt_s", 0.5)),
            plan_period_s=float(d.get("plan_period_s", site.step_s)),
            state_period_s=float(d.get("state_period_s", 1.0)),
            idle_state_period_s=float(d.get("idle_state_period_s", 10.0)),
            check_period_s=float(safety.get("check_period_s", 1.0)),
            deadlock_s=float(safety.get("deadlock_s", 180.0)),
            description=d.get("description", ""),
            raw=d,
        )

    def _site(self, name: str) -> Site:
        try:
            candidate = self.base_dir / name
            path = candidate if candidate.is_file() else resolve_site(name)
            return load_site(path)
        except SiteModelError as exc:
            raise self.fail("site", str(exc)) from None

    def _check_target(self, where: str, kind: FaultKind, target: str, agvs: set[str], cranes: set[str],
                      chargers: set[str]) -> None:
        if kind == FaultKind.CHARGER_FAIL:
            ok, what = target in chargers, "charger station"
        elif kind == FaultKind.BATTERY_FLAT:
            ok, what = target in agvs, "AGV"
        elif kind == FaultKind.HOIST_STALL:
            ok, what = target in cranes, "crane"
        else:
            ok, what = target in agvs or target in cranes, "machine"
        if not ok:
            raise self.fail(where, f"{kind.value} needs a {what}; {target!r} is none in this scenario")

    def _agvs(self, site: Site, seed: int) -> list[AgvSpec]:
        out: list[AgvSpec] = []
        used: set[str] = set()
        taken_ids: set[str] = set()
        autos: list[tuple[int, int, dict[str, Any]]] = []
        for g, group in enumerate(self.d["fleet"]["agvs"]):
            count = int(group.get("count", 1))
            prefix = group.get("prefix", group.get("id", "agv"))
            start = group.get("start", "auto")
            if start != "auto":
                if len(start) < count:
                    raise self.fail(f"fleet.agvs[{g}].start", f"{count} AGVs need {count} start nodes, got {len(start)}")
                for j, nid in enumerate(start[:count]):
                    if nid not in site.node_by_id:
                        raise self.fail(f"fleet.agvs[{g}].start[{j}]", f"site {site.name!r} has no node {nid!r}")
                    if nid in used:
                        raise self.fail(f"fleet.agvs[{g}].start[{j}]", f"two AGVs start at node {nid!r}")
                    used.add(nid)
            autos.append((g, count, group))
        free = self._start_nodes(site, used, seed)
        k = 0
        for g, count, group in autos:
            prefix = group.get("prefix", group.get("id", "agv"))
            start = group.get("start", "auto")
            extra = {key: (tuple(v) if key == "load_types" else v) for key, v in group.items() if key in _AGV_FIELDS}
            for j in range(count):
                vid = group["id"] if count == 1 and "id" in group else f"{prefix}-{j + 1}"
                if vid in taken_ids:
                    raise self.fail(f"fleet.agvs[{g}]", f"AGV id {vid!r} is used twice (give groups different prefixes)")
                taken_ids.add(vid)
                if start == "auto":
                    if k >= len(free):
                        raise self.fail(f"fleet.agvs[{g}].count",
                                        f"site {site.name!r} has room for {len(free) + len(used)} parked AGVs, "
                                        "not this many")
                    node = free[k]
                    k += 1
                else:
                    node = start[j]
                out.append(AgvSpec(id=vid, start_node=node, **extra))
        return out

    @staticmethod
    def _start_nodes(site: Site, used: set[str], seed: int) -> list[str]:
        """Nodes to park AGVs at the start: parking places first, then spread-out lane nodes
        apart by a vehicle length plus margins, outside closed or no-go zones."""
        shape = site.vehicle_shape
        spacing = shape.length_m + 2 * shape.safety_margin_m
        on_lane = {lane.start for lane in site.lanes if lane.agv} | {lane.end for lane in site.lanes if lane.agv}
        barred = [z.polygon for z in site.zones if z.kind in (ZoneKind.NO_GO, ZoneKind.MAINTENANCE) or z.closed]
        station_nodes = {s.node for s in site.stations}
        parking = [s.node for s in site.stations if s.kind == StationKind.PARKING]
        rng = np.random.default_rng([seed, 4])
        others = [n.id for n in site.nodes if n.id in on_lane and n.id not in station_nodes]
        others = [others[i] for i in rng.permutation(len(others))]
        taken = np.array([(site.node_by_id[u].x, site.node_by_id[u].y) for u in used], float).reshape(-1, 2)
        cells: dict[tuple[int, int], list[int]] = {}  # a grid of cell `spacing`: look at 9 cells only
        pts: list[tuple[float, float]] = [tuple(p) for p in taken]
        for k, (x, y) in enumerate(pts):
            cells.setdefault((int(x // spacing), int(y // spacing)), []).append(k)
        out = []
        from shapely.geometry import Point

        for nid in parking + others:
            n = site.node_by_id[nid]
            if nid in used or any(p.covers(Point(n.x, n.y)) for p in barred):
                continue
            cx, cy = int(n.x // spacing), int(n.y // spacing)
            near = [k for dx in (-1, 0, 1) for dy in (-1, 0, 1) for k in cells.get((cx + dx, cy + dy), ())]
            if any(math.hypot(n.x - pts[k][0], n.y - pts[k][1]) < spacing for k in near):
                continue
            cells.setdefault((cx, cy), []).append(len(pts))
            pts.append((n.x, n.y))
            out.append(nid)
        return out

    def _stream(self, site: Site, i: int, s: dict[str, Any]) -> OrderStream:
        where = f"orders[{i}]"
        kind = s["kind"]
        try:
            sources = tuple(resolve_places(site, s["sources"]))
        except PlaceError as exc:
            raise self.fail(f"{where}.sources", str(exc)) from None
        try:
            dests = tuple(resolve_places(site, s["destinations"]))
        except PlaceError as exc:
            raise self.fail(f"{where}.destinations", str(exc)) from None
        if kind in ("poisson", "coil") and "rate_per_h" not in s:
            raise self.fail(where, f"a {kind} stream needs rate_per_h")
        if kind == "shift" and "profile" not in s:
            raise self.fail(where, "a shift stream needs a profile of [from_hour, rate_per_h]")
        if kind == "wave" and "at_s" not in s:
            raise self.fail(where, "a wave stream needs at_s (the wave start times)")
        if kind == "shift":
            hours = [p[0] for p in s["profile"]]
            if hours != sorted(hours) or hours[0] != 0:
                raise self.fail(f"{where}.profile", "profile hours must start at 0 and increase")
        if len(sources) == 1 and sources == dests:
            raise self.fail(where, "sources and destinations are the same single place")
        w = s.get("weight_kg", [100.0, 800.0] if kind != "coil" else [8000.0, 25000.0])
        weight = (float(w), float(w)) if not isinstance(w, list) else (float(min(w)), float(max(w)))
        return OrderStream(
            id=s.get("id", f"s{i + 1}"),
            kind=kind,
            sources=sources,
            destinations=dests,
            rate_per_h=float(s.get("rate_per_h", 0.0)),
            profile=tuple((float(h), float(r)) for h, r in s.get("profile", ())),
            at_s=tuple(float(t) for t in s.get("at_s", ())),
            count=int(s.get("count", 1)),
            spread_s=float(s.get("spread_s", 600.0)),
            load_type=s.get("load_type", "coil" if kind == "coil" else "pallet"),
            weight_kg=weight,
            priority=int(s.get("priority", 5)),
            deadline_s=float(s["deadline_s"]) if "deadline_s" in s else None,
            hazardous_share=float(s.get("hazardous_share", 0.0)),
            start_s=float(s.get("start_s", 0.0)),
            end_s=float(s["end_s"]) if "end_s" in s else None,
        )
