"""The site map as JSON for the web UI, and zones (close/open)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from fleet.api.deps import CtxDep, Reader, ZoneController, actor
from fleet.api.schemas.misc import ZoneState
from fleet.api.schemas.problem import COMMON, problems
from fleet.errors import NotFoundError

router = APIRouter(tags=["site"], responses=COMMON)


def site_json(site: Any) -> dict[str, Any]:
    """Everything static about the site, in metres in the site frame."""
    if site is None:
        return {"name": None, "bounds": [0, 0, 0, 0], "nodes": [], "lanes": [], "stations": [], "zones": [],
                "bays": [], "racks": [], "step_s": 1.0}
    nodes = site.node_by_id

    def slot(s: Any) -> dict[str, Any]:
        return {"id": s.id, "x": s.x, "y": s.y, "tiers": s.tiers, "bay": s.bay, "runway_m": s.runway_m,
                "cross_m": s.cross_m, "node": s.node, "levels": s.levels, "load_types": list(s.load_types)}

    return {
        "name": site.name,
        "description": site.description,
        "bounds": list(site.bounds),
        "step_s": site.step_s,
        "nodes": [{"id": n.id, "x": n.x, "y": n.y} for n in site.nodes],
        "lanes": [{"id": ln.id, "start": ln.start, "end": ln.end, "length_m": ln.length_m,
                   "max_speed_mps": ln.max_speed_mps, "width_m": ln.width_m, "two_way": ln.two_way, "agv": ln.agv}
                  for ln in site.lanes],
        "stations": [{"id": s.id, "kind": s.kind.value, "node": s.node, "x": nodes[s.node].x if s.node in nodes else None,
                      "y": nodes[s.node].y if s.node in nodes else None, "load_types": list(s.load_types),
                      "bay": s.bay} for s in site.stations],
        "zones": [{"id": z.id, "kind": z.kind.value, "polygon": [list(p) for p in z.polygon.exterior.coords],
                   "speed_limit_mps": z.speed_limit_mps, "closed_at_start": z.closed,
                   "direction_deg": z.direction_deg} for z in site.zones],
        "bays": [{"id": b.id, "runway_start": list(b.runway_start), "runway_end": list(b.runway_end),
                  "runway_length_m": b.runway_length_m, "span_m": b.span_m, "safety_gap_m": b.safety_gap_m,
                  "hook_height_m": b.hook_height_m, "handoffs": list(b.handoffs),
                  "cranes": [{"id": c.id, "home_m": c.home_m, "width_m": c.width_m, "payload_kg": c.payload_kg}
                             for c in b.cranes],
                  "slots": [slot(s) for s in b.slots]} for b in site.crane_bays],
        "racks": [slot(s) for s in site.racks],
    }


@router.get("/site")
def get_site(principal: Reader, ctx: CtxDep) -> dict[str, Any]:
    """The map: nodes, lanes, stations, zones (polygons), crane bays with cranes and slots, racks;
    plus `closed_zones` now."""
    cached = ctx.extras.get("site_json")
    if cached is None:
        cached = ctx.extras["site_json"] = site_json(ctx.core.site)
    return {**cached, "closed_zones": sorted(ctx.core.closed_zones())}


@router.get("/zones", response_model=list[ZoneState])
def list_zones(principal: Reader, ctx: CtxDep) -> list[ZoneState]:
    closed = ctx.core.closed_zones()
    ids = [z.id for z in ctx.core.site.zones] if ctx.core.site else sorted(closed)
    return [ZoneState(zone_id=z, closed=z in closed) for z in ids]


async def _set(ctx: CtxDep, zone_id: str, closed: bool, principal: Any, request: Request) -> ZoneState:
    if ctx.core.site is not None and zone_id not in ctx.core.site.zone_by_id:
        raise NotFoundError("zone", zone_id)
    out = await ctx.command(ctx.core.set_zone(zone_id, closed, actor(principal, request)))
    return ZoneState(**out)


@router.post("/zones/{zone_id}/close", response_model=ZoneState, responses=problems(404))
async def close_zone(zone_id: str, principal: ZoneController, ctx: CtxDep, request: Request) -> ZoneState:
    """Close a zone: no machine is routed through it from now on."""
    return await _set(ctx, zone_id, True, principal, request)


@router.post("/zones/{zone_id}/open", response_model=ZoneState, responses=problems(404))
async def open_zone(zone_id: str, principal: ZoneController, ctx: CtxDep, request: Request) -> ZoneState:
    return await _set(ctx, zone_id, False, principal, request)
