"""A stand-in fleet service for the web page: the page's API on an in-memory site.

Machines drive along the site's lanes at a fixed update rate, orders are carried out
by the nearest idle AGV on a shortest path, e-stops and zones work, and every change
goes out on the same SSE stream and pose channel the real service offers. The browser
benchmark (`fleet bench ui`) uses it to put N machines on a page at a chosen rate; the
browser tests use it where the real service is not wired yet. It is not the service:
no store, no planner, no durability.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import random
import secrets
import statistics
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import networkx as nx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from fleet.api.routes.site import site_json
from fleet.security.roles import GRANTS, Role
from fleet.web.mount import mount_web
from maps.site import Site, StationKind

USERS = {"dispatcher": ("dispatcher", "dispatcher"), "viewer": ("viewer", "viewer"), "admin": ("admin", "admin")}
HELD = {"paused", "estopped", "out_of_service"}


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str) -> None:
        self.status, self.title, self.detail = status, title, detail


class StandInSite:
    """Machines, orders, zones and alarms of one site, stepped on a thread at `hz`."""

    def __init__(self, site: Site, agvs: int = 20, hz: float = 10.0, seed: int = 7, speed_mps: float = 1.5) -> None:
        self.site = site
        self.hz = hz
        self.speed = speed_mps
        self.rng = random.Random(seed)
        self.lock = threading.RLock()
        self.graph = nx.DiGraph()
        for ln in site.lanes:
            if not ln.agv:
                continue
            self.graph.add_edge(ln.start, ln.end, w=ln.length_m)
            if ln.two_way:
                self.graph.add_edge(ln.end, ln.start, w=ln.length_m)
        self.closed: set[str] = {z.id for z in site.zones if z.closed}
        self.machines: dict[str, dict[str, Any]] = {}
        self.routes: dict[str, list[str]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.timeline: dict[str, list[dict[str, Any]]] = {}
        self.alarms: dict[str, dict[str, Any]] = {}
        self.subscribers: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = []
        self.ids = itertools.count(1)
        self.event_ids = itertools.count(1)
        nodes = [n for n in site.nodes if n.id in self.graph]
        for i in range(agvs):
            n = nodes[(i * 7919) % len(nodes)]
            self.machines[f"agv-{i + 1:03d}"] = {
                "machine_id": f"agv-{i + 1:03d}", "kind": "agv", "mode": "auto", "node": n.id, "x": n.x, "y": n.y,
                "heading_rad": 0.0, "battery": round(0.5 + 0.5 * self.rng.random(), 3), "charging": False,
                "load_id": None, "leg_id": None, "order_id": None, "link_ok": True,
                "link_latency_ms": round(8 + 10 * self.rng.random(), 1), "sigma_m": 0.05, "path": [],
            }
        for bay in site.crane_bays:
            for c in bay.cranes:
                self.machines[c.id] = {
                    "machine_id": c.id, "kind": "crane", "bay": bay.id, "mode": "auto", "bridge_m": c.home_m,
                    "trolley_m": bay.span_m / 2, "hoist_m": 0.0, "load_id": None, "leg_id": None, "link_ok": True,
                    "link_latency_ms": 6.0, "phase": self.rng.random() * 6.28,
                }
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.pose_stamp = time.time()

    # ---------------------------------------------------------------- running
    def start(self) -> StandInSite:
        self.thread = threading.Thread(target=self._run, name="ui-stand-in", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread:
            self.thread.join(timeout=2)

    def _run(self) -> None:
        period = 1.0 / self.hz
        last = time.monotonic()
        while not self.stop_event.wait(max(0.0, period - (time.monotonic() - last))):
            now = time.monotonic()
            self.step(now - last)
            last = now

    def emit(self, type_: str, payload: dict[str, Any]) -> None:
        event = {"id": next(self.event_ids), "type": type_, "at_s": time.time(), "payload": payload}
        for loop, q in list(self.subscribers):
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(q.put_nowait, event)

    def step(self, dt: float) -> None:
        with self.lock:
            self._dispatch()
            for m in self.machines.values():
                if m["kind"] == "crane":
                    if m["mode"] == "auto":
                        m["phase"] += dt * 0.3
                        bay = self.site.bay_by_id[m["bay"]]
                        m["trolley_m"] = round(bay.span_m * (0.5 + 0.4 * math.sin(m["phase"])), 3)
                    continue
                if m["mode"] in HELD:
                    continue
                self._drive(m, dt)
            self.pose_stamp = time.time()

    def _drive(self, m: dict[str, Any], dt: float) -> None:
        route = self.routes.setdefault(m["machine_id"], [])
        if not route:
            if m["order_id"] or m["charging"]:
                return
            nxt = list(self.graph.successors(m["node"]))
            if not nxt:
                return
            route.append(self.rng.choice(nxt))  # an idle machine roams so the map is alive
        left = self.speed * dt
        while left > 0 and route:
            target = self.site.node_by_id[route[0]]
            dx, dy = target.x - m["x"], target.y - m["y"]
            dist = math.hypot(dx, dy)
            if dist > 1e-6:
                m["heading_rad"] = round(math.atan2(dy, dx), 3)
            if dist <= left:
                m["x"], m["y"], m["node"] = target.x, target.y, target.id
                route.pop(0)
                left -= dist
                self._arrived(m)
            else:
                m["x"] = round(m["x"] + dx / dist * left, 3)
                m["y"] = round(m["y"] + dy / dist * left, 3)
                left = 0
        m["battery"] = round(max(0.0, m["battery"] - 0.00002), 4)
        m["path"] = [m["node"], *route] if m["order_id"] else []

    def _arrived(self, m: dict[str, Any]) -> None:
        order = self.orders.get(m["order_id"] or "")
        if order is None:
            if m.get("to_charger") and m["node"] == m["to_charger"]:
                m["charging"], m["to_charger"] = True, None
                self.emit("machine.state", self.public(m))
            return
        src = self.site.station_by_id[order["source"]].node
        dst = self.site.station_by_id[order["destination"]].node
        if order["state"] == "assigned" and m["node"] == src and not m["load_id"]:
            m["load_id"] = f"load-{order['id']}"
            self._order_state(order, "in_progress", m)
            self.routes[m["machine_id"]] = self._path(src, dst)
            if not self.routes[m["machine_id"]]:
                self._finish(order, m)
        elif order["state"] == "in_progress" and m["node"] == dst:
            self._finish(order, m)

    def _finish(self, order: dict[str, Any], m: dict[str, Any]) -> None:
        m["load_id"] = None
        m["order_id"] = m["leg_id"] = None
        m["path"] = []
        self._order_state(order, "done", m)
        self.emit("machine.state", self.public(m))

    def _path(self, a: str, b: str) -> list[str]:
        blocked = {n.id for n in self.site.nodes for z in self.site.zones
                   if z.id in self.closed and z.polygon.covers(self.site.point_of(n.id))} - {a, b}
        graph = nx.restricted_view(self.graph, blocked, []) if blocked else self.graph
        try:
            return nx.shortest_path(graph, a, b, weight="w")[1:]
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return []

    def _dispatch(self) -> None:
        queued = sorted((o for o in self.orders.values() if o["state"] == "queued"),
                        key=lambda o: (-o["priority"], o["created_s"]))
        for order in queued:
            src = self.site.station_by_id[order["source"]]
            idle = [m for m in self.machines.values()
                    if m["kind"] == "agv" and m["mode"] == "auto" and not m["order_id"] and not m.get("to_charger")]
            # the machine with the shortest drive to the pickup (lanes may be one-way)
            to_src = nx.single_source_dijkstra_path_length(self.graph.reverse(copy=False), src.node, weight="w")

            def start_of(v: dict[str, Any]) -> str:
                route = self.routes.get(v["machine_id"], [])
                return route[0] if route else v["node"]

            reachable = [v for v in idle if start_of(v) in to_src]
            if not reachable:
                continue
            m = min(reachable, key=lambda v: (to_src[start_of(v)],
                                              v["machine_id"]))
            route = self.routes.get(m["machine_id"], [])
            start = start_of(m)
            path = self._path(start, src.node)
            if not path and start != src.node:
                continue  # cut off by a closed zone: wait
            m["charging"] = False
            m["order_id"] = order["id"]
            m["leg_id"] = f"{order['id']}-L1"
            order["legs"] = [m["leg_id"]]
            self._order_state(order, "assigned", m)
            self.routes[m["machine_id"]] = ([start] if route else []) + path
            if not self.routes[m["machine_id"]]:
                self._arrived(m)
            self.emit("machine.state", self.public(m))

    def _order_state(self, order: dict[str, Any], state: str, m: dict[str, Any] | None = None,
                     reason: str | None = None) -> None:
        previous = order["state"]
        order["state"] = state
        order["updated_s"] = time.time()
        if reason:
            order["reason"] = reason
        if state == "done":
            order["done_s"] = order["updated_s"]
        entry = {"at_s": order["updated_s"], "state": state, "machine_id": m["machine_id"] if m else None,
                 "leg_id": m["leg_id"] if m else None}
        self.timeline.setdefault(order["id"], []).append(entry)
        self.emit("order.state", {"order_id": order["id"], "client_id": order["client_id"], "state": state,
                                  "previous": previous, "priority": order["priority"]})

    def raise_alarm(self, kind: str, severity: str, message: str, machine_id: str | None = None) -> None:
        alarm = {"id": f"al-{next(self.ids)}", "kind": kind, "severity": severity, "message": message,
                 "machine_id": machine_id, "order_id": None, "raised_s": time.time(),
                 "acknowledged_s": None, "acknowledged_by": None}
        self.alarms[alarm["id"]] = alarm
        self.emit("alarm.raised", alarm)

    # ---------------------------------------------------------------- reads
    def public(self, m: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in m.items() if k not in {"phase", "to_charger"}}

    def poses(self) -> list[dict[str, Any]]:
        """Every machine's pose, stamped `t` (Unix s) when the step that moved it ended."""
        with self.lock:
            out = []
            t = round(self.pose_stamp, 4)
            for m in self.machines.values():
                if m["kind"] == "crane":
                    out.append({"id": m["machine_id"], "bridge_m": m["bridge_m"], "trolley_m": m["trolley_m"],
                                "mode": m["mode"], "load": m["load_id"], "t": t})
                else:
                    out.append({"id": m["machine_id"], "x": m["x"], "y": m["y"], "th": m["heading_rad"],
                                "mode": m["mode"], "load": m["load_id"], "t": t})
            return out

    def kpis(self) -> dict[str, Any]:
        now = time.time()
        with self.lock:
            done = [o for o in self.orders.values() if o["state"] == "done"]
            lead = sorted(o["done_s"] - o["created_s"] for o in done)
            agvs = [m for m in self.machines.values() if m["kind"] == "agv"]
            busy = sum(1 for m in agvs if m["order_id"])
            hours = {}
            for o in done:
                h = math.floor(o["done_s"] / 3600) * 3600
                hours[h] = hours.get(h, 0) + 1
            return {
                "at_s": now,
                "window_s": 3600.0,
                "throughput_per_h": sum(1 for o in done if now - o["done_s"] <= 3600),
                "waiting": sum(1 for o in self.orders.values() if o["state"] in ("created", "queued")),
                "lead_time_p50_s": statistics.median(lead) if lead else None,
                "lead_time_p95_s": lead[min(len(lead) - 1, int(0.95 * len(lead)))] if lead else None,
                "utilisation_now": {"agv": busy / len(agvs) if agvs else 0.0, "crane": 0.0},
                "series": {"throughput_hourly": [{"hour_s": h, "done": n} for h, n in sorted(hours.items())]},
            }


def build_app(stand_in: StandInSite) -> FastAPI:
    """The page's API (`/api/v1/...`) over a stand-in site, with the page mounted."""
    app = FastAPI(title="fleet5g stand-in")
    tokens: dict[str, tuple[str, str]] = {}
    s = stand_in

    @app.exception_handler(Problem)
    async def problem(_: Request, exc: Problem) -> JSONResponse:
        return JSONResponse({"type": "about:blank", "title": exc.title, "status": exc.status, "detail": exc.detail},
                            status_code=exc.status, media_type="application/problem+json")

    def who(request: Request) -> tuple[str, str]:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.lower().startswith("bearer ") else request.query_params.get("access_token", "")
        if token not in tokens:
            raise Problem(401, "Unauthorized", "a bearer token is needed")
        return tokens[token]

    def writer(user: tuple[str, str] = Depends(who)) -> tuple[str, str]:
        if user[1] != "dispatcher":  # the stand-in's writes are all a dispatcher's
            raise Problem(403, "Forbidden", f"role {user[1]} may not change anything")
        return user

    @app.post("/api/v1/auth/login")
    async def login(body: dict[str, Any]) -> dict[str, Any]:
        entry = USERS.get(str(body.get("username")))
        if entry is None or entry[0] != body.get("password"):
            raise Problem(401, "Unauthorized", "wrong user name or password")
        token = secrets.token_urlsafe(16)
        tokens[token] = (str(body["username"]), entry[1])
        return {"token": token, "role": entry[1], "expires_s": time.time() + 8 * 3600}

    @app.get("/api/v1/auth/me")
    async def me(user: tuple[str, str] = Depends(who)) -> dict[str, Any]:
        perms = sorted(p.value for p in GRANTS[Role(user[1])])
        return {"name": user[0], "role": user[1], "token_id": "t-1", "permissions": perms}

    @app.get("/api/v1/site")
    async def site(_: Any = Depends(who)) -> dict[str, Any]:
        return {**site_json(s.site), "closed_zones": sorted(s.closed)}

    @app.get("/api/v1/vehicles")
    async def vehicles(_: Any = Depends(who)) -> list[dict[str, Any]]:
        with s.lock:
            return [s.public(m) for m in s.machines.values() if m["kind"] == "agv"]

    @app.get("/api/v1/cranes")
    async def cranes(_: Any = Depends(who)) -> list[dict[str, Any]]:
        with s.lock:
            return [s.public(m) for m in s.machines.values() if m["kind"] == "crane"]

    @app.get("/api/v1/orders")
    async def orders(state: str | None = None, client_id: str | None = None, _: Any = Depends(who)) -> dict[str, Any]:
        with s.lock:
            items = [dict(o) for o in s.orders.values()
                     if (not state or o["state"] == state) and (not client_id or client_id in (o["client_id"] or ""))]
            return {"items": items, "total": len(items), "limit": 500, "offset": 0}

    def find(order_id: str) -> dict[str, Any]:
        if order_id not in s.orders:
            raise Problem(404, "Not Found", f"order {order_id!r} not found")
        return s.orders[order_id]

    @app.get("/api/v1/orders/{order_id}")
    async def order(order_id: str, _: Any = Depends(who)) -> dict[str, Any]:
        return dict(find(order_id))

    @app.get("/api/v1/orders/{order_id}/timeline")
    async def order_events(order_id: str, _: Any = Depends(who)) -> list[dict[str, Any]]:
        find(order_id)
        return list(s.timeline.get(order_id, []))

    @app.post("/api/v1/orders", status_code=201)
    async def create(body: dict[str, Any], _: Any = Depends(writer)) -> dict[str, Any]:
        for key in ("source", "destination"):
            if body.get(key) not in s.site.station_by_id:
                raise Problem(422, "Unprocessable", f"{key}: no station {body.get(key)!r} on site {s.site.name}")
        with s.lock:
            oid = f"ord-{next(s.ids)}"
            now = time.time()
            o = {"id": oid, "client_id": body.get("client_id"), "source": body["source"],
                 "destination": body["destination"], "load_type": body.get("load_type", "pallet"),
                 "weight_kg": float(body.get("weight_kg", 0)), "priority": int(body.get("priority", 5)),
                 "hazardous": bool(body.get("hazardous")), "state": "created", "created_s": now, "updated_s": now,
                 "reason": None, "legs": []}
            s.orders[oid] = o
            s.timeline[oid] = [{"at_s": now, "state": "created"}]
            s._order_state(o, "queued")
            return dict(o)

    @app.post("/api/v1/orders/{order_id}/cancel")
    async def cancel(order_id: str, _: Any = Depends(writer)) -> dict[str, Any]:
        with s.lock:
            o = find(order_id)
            if o["state"] in ("done", "failed", "cancelled"):
                raise Problem(409, "Conflict", f"order {order_id} is already {o['state']}")
            for m in s.machines.values():
                if m.get("order_id") == order_id:
                    m["order_id"] = m["leg_id"] = m["load_id"] = None
                    s.routes[m["machine_id"]] = []
            s._order_state(o, "cancelled", reason="cancelled by dispatcher")
            return dict(o)

    @app.post("/api/v1/orders/{order_id}/priority")
    async def reprioritise(order_id: str, body: dict[str, Any], _: Any = Depends(writer)) -> dict[str, Any]:
        with s.lock:
            o = find(order_id)
            p = body.get("priority")
            if not isinstance(p, int) or not 0 <= p <= 9:
                raise Problem(422, "Unprocessable", "priority must be an integer 0..9")
            o["priority"] = p
            s.emit("order.state", {"order_id": order_id, "state": o["state"], "priority": p})
            return dict(o)

    def machine_action(machine_id: str, action: str) -> dict[str, Any]:
        m = s.machines.get(machine_id)
        if m is None:
            raise Problem(404, "Not Found", f"machine {machine_id!r} not found")
        if action == "pause":
            m["mode"] = "paused"
        elif action == "resume":
            m["mode"] = "auto"
        elif action == "estop":
            m["mode"] = "estopped"
            s.raise_alarm("estop", "critical", f"{machine_id} emergency-stopped", machine_id)
        elif action == "out_of_service":
            m["mode"] = "out_of_service"
        elif action == "charge" and m["kind"] == "agv":
            chargers = s.site.stations_of(StationKind.CHARGER)
            if not chargers:
                raise Problem(409, "Conflict", f"site {s.site.name} has no charger")
            ch = min(chargers, key=lambda c: (s.site.node_by_id[c.node].x - m["x"]) ** 2
                     + (s.site.node_by_id[c.node].y - m["y"]) ** 2)
            m["to_charger"] = ch.node
            s.routes[machine_id] = s._path(m["node"], ch.node)
        else:
            raise Problem(422, "Unprocessable", f"unknown action {action!r} for {machine_id}")
        s.emit("machine.state", s.public(m))
        return s.public(m)

    @app.post("/api/v1/vehicles/{machine_id}/{action}")
    @app.post("/api/v1/cranes/{machine_id}/{action}")
    async def act(machine_id: str, action: str, _: Any = Depends(writer)) -> dict[str, Any]:
        with s.lock:
            return machine_action(machine_id, action)

    @app.post("/api/v1/estop")
    async def estop_all(_: Any = Depends(writer)) -> dict[str, Any]:
        with s.lock:
            ids = list(s.machines)
            for mid in ids:
                s.machines[mid]["mode"] = "estopped"
                s.emit("machine.state", s.public(s.machines[mid]))
            s.raise_alarm("estop", "critical", f"all {len(ids)} machines emergency-stopped")
            return {"estopped": ids}

    @app.get("/api/v1/zones")
    async def zones(_: Any = Depends(who)) -> list[dict[str, Any]]:
        return [{"zone_id": z.id, "closed": z.id in s.closed, "by": None} for z in s.site.zones]

    @app.post("/api/v1/zones/{zone_id}/{verb}")
    async def zone(zone_id: str, verb: str, _: Any = Depends(writer)) -> dict[str, Any]:
        if zone_id not in s.site.zone_by_id or verb not in ("close", "open"):
            raise Problem(404, "Not Found", f"zone {zone_id!r} not found")
        with s.lock:
            (s.closed.add if verb == "close" else s.closed.discard)(zone_id)
            payload = {"zone_id": zone_id, "closed": verb == "close"}
            s.emit("zone.state", payload)
            return payload

    @app.get("/api/v1/alarms")
    async def alarms(_: Any = Depends(who)) -> list[dict[str, Any]]:
        with s.lock:
            return [dict(a) for a in s.alarms.values()]

    @app.post("/api/v1/alarms/{alarm_id}/ack")
    async def ack(alarm_id: str, user: tuple[str, str] = Depends(writer)) -> dict[str, Any]:
        with s.lock:
            a = s.alarms.get(alarm_id)
            if a is None:
                raise Problem(404, "Not Found", f"alarm {alarm_id!r} not found")
            a.update(acknowledged_s=time.time(), acknowledged_by=user[0])
            s.emit("alarm.acknowledged", a)
            return dict(a)

    @app.get("/api/v1/kpis")
    async def kpis(_: Any = Depends(who)) -> dict[str, Any]:
        return s.kpis()

    @app.get("/api/v1/events")
    async def events(request: Request, _: Any = Depends(who)) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        s.subscribers.append((loop, q))

        async def stream() -> AsyncIterator[str]:
            try:
                yield ": connected\n\n"
                while not await request.is_disconnected():
                    try:
                        ev = await asyncio.wait_for(q.get(), 1.0)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    yield f"id: {ev['id']}\nevent: {ev['type']}\ndata: {json.dumps(ev)}\n\n"
            finally:
                s.subscribers.remove((loop, q))

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/api/v1/live")
    async def live(request: Request, hz: float = 10.0, _: Any = Depends(who)) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            last = None
            while not await request.is_disconnected():  # a frame per step, sent as soon as it is taken
                if s.pose_stamp != last:
                    last = s.pose_stamp
                    yield f"event: poses\ndata: {json.dumps(s.poses(), separators=(',', ':'))}\n\n"
                await asyncio.sleep(0.005)

        return StreamingResponse(stream(), media_type="text/event-stream")

    mount_web(app)
    return app
