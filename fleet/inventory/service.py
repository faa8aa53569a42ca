"""The inventory as the service exposes it: a plain Python facade over yard, tally, store.

One `InventoryService` per site. Every method may be called from any thread (one
lock; writes are short). Every change is written to the repository (committed)
before the in-memory yard changes and before the call returns: durable before
acknowledged. Moves change the inventory only when the drop is confirmed by a
matching tally (or an operator accepting an alarm), never at pickup.

Events (`emit(type, payload)`): inventory.stored, inventory.moved,
inventory.removed, tally.recorded, tally.alarm, tally.alarm_resolved.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fleet.errors import NotFoundError
from fleet.inventory.errors import InventoryConflict, InventoryError, StackingRefused, UnknownLoad
from fleet.inventory.layout import KIND_NAMES, UPPER, Layout, build_layout
from fleet.inventory.load import Load, validated
from fleet.inventory.putaway import PutawayOptions, plan_putaway
from fleet.inventory.repository import InventoryRepository
from fleet.inventory.reshuffle import plan_retrieval
from fleet.inventory.rules import StackingRules, check_placement
from fleet.inventory.tally import (
    ALARM_OPTIONS,
    Action,
    Decision,
    LabelRead,
    LabelReader,
    Outcome,
    TallyPolicy,
    decide,
)
from fleet.inventory.yard import Yard
from maps.site import Site

Emit = Callable[[str, dict[str, Any]], None]
STAGES = ("pickup", "drop", "audit")


class UnknownAlarm(NotFoundError):
    def __init__(self, alarm_id: str) -> None:
        super().__init__("tally alarm", alarm_id)


@dataclass
class _Pending:
    """A drop stopped by the tally, waiting for the operator (accept applies it)."""

    load: Load
    destination: str
    machine_id: str | None
    leg_id: str | None


def _as_load(load: Load | dict[str, Any]) -> Load:
    if isinstance(load, Load):
        return validated(load)
    if not isinstance(load, dict):
        raise InventoryError(f"a load must be an object, got {type(load).__name__}")
    return Load.from_dict(load)


class InventoryService:
    def __init__(self, site: Site, repo: InventoryRepository, *, rules: StackingRules | None = None,
                 now: Callable[[], float] | None = None, emit: Emit | None = None,
                 policy: TallyPolicy | None = None, reader: LabelReader | None = None) -> None:
        self.site = site
        self.repo = repo
        self.layout: Layout = build_layout(site, rules)
        self.yard = Yard(self.layout)
        self.now = now or (lambda: 0.0)
        self.emit = emit or (lambda _type, _payload: None)
        self.policy = policy or TallyPolicy()
        self.reader = reader or LabelReader()
        self._lock = threading.RLock()
        self._pending: dict[str, _Pending] = {}
        self._seq = itertools.count(1)
        self.placed_s: dict[str, float] = {}
        self.restore_violations = self._restore()

    def _restore(self) -> list[str]:
        """Rebuild the yard from the stored stock (lower positions first)."""
        rows = self.repo.stock()
        known = [(p, ld, t) for p, ld, t in rows if self.layout.has(p)]
        known.sort(key=lambda r: int(self.layout.kind[self.layout.index(r[0])]))
        for pos, load, at in known:
            self.yard.place(load, pos, check=False)
            self.placed_s[pos] = at
        problems = [f"stored position {p!r} is not in the site" for p, _, _ in rows if not self.layout.has(p)]
        return problems + [str(v) for v in self.yard.check()]

    # ----------------------------------------------------------------- reading
    def _position_view(self, p: int) -> dict[str, Any]:
        lay = self.layout
        load = self.yard.at.get(p)
        return {
            "position": lay.ids[p],
            "slot": lay.slot_ids[p],
            "kind": KIND_NAMES[int(lay.kind[p])],
            "tier": int(lay.tier[p]),
            "x": round(float(lay.x[p]), 3),
            "y": round(float(lay.y[p]), 3),
            "load": load.to_dict() if load else None,
            "blocked_by": [self.yard.at[q].id for q in lay.above[p] if q >= 0 and int(q) in self.yard.at],
        }

    def by_slot(self, slot_id: str) -> dict[str, Any]:
        """Every position of one slot and what lies in it."""
        with self._lock:
            ps = self.layout.positions_of_slot(slot_id)
            if not ps:
                raise NotFoundError("slot", slot_id)
            return {"slot": slot_id, "positions": [self._position_view(p) for p in ps]}

    def by_load(self, load_id: str) -> dict[str, Any]:
        """Where a load lies, what rests on it, and its last moves."""
        with self._lock:
            p = self.yard.where.get(load_id)
            if p is None:
                pend = [k for k, v in self._pending.items() if v.load.id == load_id]
                if not pend:
                    raise UnknownLoad(load_id)
                return {"load_id": load_id, "position": None, "pending_alarm": pend[0],
                        "moves": self.repo.moves(load_id, 20)}
            view = self._position_view(p)
            view["load_id"] = load_id
            view["placed_s"] = self.placed_s.get(view["position"])
            view["moves"] = self.repo.moves(load_id, 20)
            return view

    def slot_map(self, bay: str | None = None) -> dict[str, Any]:
        """Compact map for the web UI: parallel lists, one entry per position."""
        with self._lock:
            lay = self.layout
            idx = [p for p in range(lay.n) if bay is None or lay.bay[p] == bay]
            load_ids, weights, hazards = [], [], []
            for p in idx:
                ld = self.yard.at.get(p)
                load_ids.append(ld.id if ld else None)
                weights.append(ld.weight_kg if ld else None)
                hazards.append(ld.hazard_class if ld else None)
            open_places = {a.get("place") for a in self.repo.alarms(open_only=True, limit=1000)}
            return {
                "site": lay.site_name,
                "bay": bay,
                "positions": [lay.ids[p] for p in idx],
                "slots": [lay.slot_ids[p] for p in idx],
                "kind": [KIND_NAMES[int(lay.kind[p])] for p in idx],
                "tier": [int(lay.tier[p]) for p in idx],
                "x": [round(float(lay.x[p]), 2) for p in idx],
                "y": [round(float(lay.y[p]), 2) for p in idx],
                "load_id": load_ids,
                "weight_kg": weights,
                "hazard_class": hazards,
                "alarm": [lay.ids[p] in open_places or lay.slot_ids[p] in open_places for p in idx],
                "fill": self.yard.fill(),
            }

    def tally_records(self, **filters: Any) -> list[dict[str, Any]]:
        """Stored tally records, oldest first (filters: leg_id, place, load_id, outcome, after_id, limit)."""
        with self._lock:  # one connection: reads wait for the writer
            return self.repo.tally(**filters)

    def alarms(self, open_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        with self._lock:
            return self.repo.alarms(open_only=open_only, limit=limit)

    def reconciliation(self, limit: int = 100000) -> dict[str, Any]:
        """Expected (inventory) versus read (last tally at each position), per position.

        A position counts as confirmed when its last read since the load was placed
        names the stored load; discrepancies list wrong loads, reads at positions the
        inventory holds empty, and positions whose last read was unreadable.
        """
        with self._lock:
            last: dict[str, dict[str, Any]] = {}
            for r in self.repo.tally(limit=limit):
                if r["place"] and r["stage"] in ("drop", "audit"):
                    last[r["place"]] = r
            confirmed, unverified, discrepancies = 0, 0, []
            for p, load in self.yard.at.items():
                pid = self.layout.ids[p]
                exact = last.get(pid)
                # the core's drop records name the slot, the yard holds positions in it
                r = exact if exact is not None else last.get(pid.split("/", 1)[0])
                if r is not None and r["read_label"] == load.id:
                    # a read naming this very load proves it, whenever it was made (the
                    # drop's own record comes before the confirmed move that placed it)
                    confirmed += 1
                elif r is None or exact is None or r["at_s"] < self.placed_s.get(pid, 0.0):
                    unverified += 1  # no read of this position since the load came
                else:
                    discrepancies.append({"position": pid, "expected": load.id, "read": r["read_label"],
                                          "kind": "unreadable" if r["read_label"] is None else "wrong-load",
                                          "record_id": r["id"], "image_id": r["image_id"]})
            for pid, r in last.items():
                empty = self.layout.has(pid) and self.layout.index(pid) not in self.yard.at
                if empty and r["read_label"] and r["stage"] == "audit":
                    discrepancies.append({"position": pid, "expected": None, "read": r["read_label"],
                                          "kind": "unexpected", "record_id": r["id"],
                                          "image_id": r["image_id"]})
            return {"stored": len(self.yard.at), "confirmed": confirmed, "unverified": unverified,
                    "discrepancies": discrepancies}

    # ---------------------------------------------------------------- planning
    def plan_putaway(self, loads: Sequence[Load | dict[str, Any]],
                     options: PutawayOptions | None = None) -> dict[str, Any]:
        """Where each load should go (nothing is stored until its drop is confirmed)."""
        batch = [_as_load(ld) for ld in loads]
        with self._lock:
            res = plan_putaway(self.yard, batch, options)
        return {"placements": res.placements, "no_room": res.no_room, "method": res.method,
                "travel_s": round(res.travel_s, 2), "elapsed_s": round(res.elapsed_s, 4)}

    def plan_retrieval(self, load_id: str, upcoming: Sequence[str] = (), order_id: str | None = None) -> dict[str, Any]:
        """Reshuffle moves (and crane legs) needed before `load_id` can be lifted."""
        with self._lock:
            plan = plan_retrieval(self.yard, load_id, upcoming)
            legs = plan.legs(order_id, self.now(), yard=self.yard)
        return {"load_id": load_id, "position": plan.position, "reshuffles": plan.reshuffles,
                "moves": [m.__dict__ for m in plan.moves], "legs": [leg.id for leg in legs]}

    # ------------------------------------------------------------------ changes
    def _resolve_position(self, load: Load, place: str) -> int | None:
        """A position id, a slot id (first free position that takes the load) or None (leaves)."""
        lay = self.layout
        if lay.has(place):
            return lay.index(place)
        ps = lay.positions_of_slot(place)
        if not ps:
            return None
        for p in sorted(ps, key=lambda q: (int(lay.kind[q]) == UPPER, int(lay.tier[q]))):
            if not check_placement(lay, self.yard.at, p, load):
                return p
        raise StackingRefused(load.id, place, ["no free position of this slot takes the load"])

    def store(self, load: Load | dict[str, Any], position: str, *, machine_id: str | None = None,
              leg_id: str | None = None) -> dict[str, Any]:
        """Register a load at a position (stock take, or a confirmed drop); checked, durable."""
        ld = _as_load(load)
        with self._lock:
            return self._apply_drop(ld, position, machine_id, leg_id)

    def _apply_drop(self, load: Load, place: str, machine_id: str | None, leg_id: str | None) -> dict[str, Any]:
        lay = self.layout
        now = self.now()
        src = self.yard.where.get(load.id)
        dest = self._resolve_position(load, place)
        if dest is None:  # leaves the inventory (dock, handoff, check station)
            if src is None:
                return {"load_id": load.id, "position": None, "change": "none"}
            above = [self.yard.at[int(q)].id for q in lay.above[src] if q >= 0 and int(q) in self.yard.at]
            if above:
                raise StackingRefused(load.id, lay.ids[src], [f"blocked by {', '.join(above)}"])
            self.repo.take(lay.ids[src], load.id, now, destination=place, machine_id=machine_id, leg_id=leg_id)
            self.yard.remove(load.id)
            self.placed_s.pop(lay.ids[src], None)
            self.emit("inventory.removed", {"load_id": load.id, "position": lay.ids[src], "to": place})
            return {"load_id": load.id, "position": None, "from": lay.ids[src], "change": "removed"}
        if src is not None:
            stored = self.yard.at[src]
            trial = self.yard.copy()
            trial.move(load.id, dest)  # raises if blocked or against the rules
            self.repo.put(lay.ids[dest], lay.slot_ids[dest], stored, now, kind="move", source=lay.ids[src],
                          machine_id=machine_id, leg_id=leg_id)
            self.yard.move(load.id, dest)
            self.placed_s.pop(lay.ids[src], None)
            self.placed_s[lay.ids[dest]] = now
            self.emit("inventory.moved", {"load_id": load.id, "from": lay.ids[src], "to": lay.ids[dest]})
            return {"load_id": load.id, "position": lay.ids[dest], "from": lay.ids[src], "change": "moved"}
        bad = check_placement(lay, self.yard.at, dest, load)
        if bad:
            raise StackingRefused(load.id, lay.ids[dest], [str(v) for v in bad])
        self.repo.put(lay.ids[dest], lay.slot_ids[dest], load, now, machine_id=machine_id, leg_id=leg_id)
        self.yard.place(load, dest, check=False)
        self.placed_s[lay.ids[dest]] = now
        self.emit("inventory.stored", {"load_id": load.id, "position": lay.ids[dest], "load": load.to_dict()})
        return {"load_id": load.id, "position": lay.ids[dest], "change": "stored"}

    def tally(self, stage: str, expected: str, *, place: str | None = None, image: Any = None,
              read: LabelRead | None = None, image_id: str | None = None, rfid_read: str | None = None,
              expected_tag: str | None = None, attempt: int = 1, leg_id: str | None = None,
              machine_id: str | None = None, duplicate_of: str | None = None) -> dict[str, Any]:
        """Read a label (from `image`, or an already decoded `read`), decide, record it.

        `duplicate_of` names where the inventory already holds the expected load id
        (an incoming load with a duplicated label): a matching read then stops too.
        Returns the decision, the record id and, when the leg must stop, the alarm.
        """
        if stage not in STAGES:
            raise InventoryError(f"tally stage {stage!r}: one of {', '.join(STAGES)}")
        if read is None:
            read = self.reader.read(image) if image is not None else LabelRead(error="no image")
        with self._lock:
            if expected_tag is None:
                p = self.yard.where.get(expected)
                expected_tag = self.yard.at[p].rfid_tag if p is not None else None
            decision = decide(expected, read, attempt, expected_tag=expected_tag, rfid_read=rfid_read,
                              policy=self.policy)
            if duplicate_of is not None and decision.outcome == Outcome.MATCH:
                decision = Decision(Outcome.DUPLICATE, Action.STOP, expected,
                                    f"label {expected!r} is already stored at {duplicate_of}", ALARM_OPTIONS)
            rec = self._record(stage, expected, read, decision, place, image_id, rfid_read, attempt, leg_id,
                               machine_id)
            out: dict[str, Any] = {"outcome": decision.outcome.value, "action": decision.action.value,
                                   "stop_leg": decision.stop_leg, "read": decision.read_load_id,
                                   "detail": decision.detail, "record_id": rec}
            if decision.stop_leg:
                out["alarm"] = self._raise_alarm(stage, expected, decision, place, image_id, leg_id, machine_id, rec)
            return out

    def _record(self, stage: str, expected: str, read: LabelRead, decision: Decision, place: str | None,
                image_id: str | None, rfid_read: str | None, attempt: int, leg_id: str | None,
                machine_id: str | None) -> int:
        rec = {"at_s": self.now(), "stage": stage, "leg_id": leg_id, "machine_id": machine_id, "place": place,
               "expected": expected, "read_label": decision.read_load_id, "read_texts": list(read.texts),
               "read_format": read.format, "rfid_read": rfid_read, "outcome": decision.outcome.value,
               "action": decision.action.value, "image_id": image_id, "attempt": int(attempt),
               "detail": decision.detail}
        rid = self.repo.add_tally(rec)
        self.emit("tally.recorded", {"id": rid, **rec})
        return rid

    def _raise_alarm(self, stage: str, expected: str, decision: Decision, place: str | None,
                     image_id: str | None, leg_id: str | None, machine_id: str | None, record_id: int) -> dict[str, Any]:
        alarm = {"id": f"TALLY-{int(self.now() * 1000):d}-{next(self._seq)}", "raised_s": self.now(),
                 "kind": f"tally-{decision.outcome.value}", "stage": stage, "leg_id": leg_id,
                 "machine_id": machine_id, "place": place, "load_id": expected, "read": decision.read_load_id,
                 "detail": decision.detail, "image_id": image_id, "record_id": record_id,
                 "options": list(decision.options), "state": "open"}
        self.repo.put_alarm(alarm)
        self.emit("tally.alarm", alarm)
        return alarm

    def confirm_pickup(self, load_id: str, place: str, **read_args: Any) -> dict[str, Any]:
        """Tally at pickup; the inventory does not change (the load changes place at the drop)."""
        return self.tally("pickup", load_id, place=place, **read_args)

    def confirm_drop(self, load: str | Load | dict[str, Any], destination: str, **read_args: Any) -> dict[str, Any]:
        """Tally at the drop; on a match the inventory changes (stored, moved or removed).

        `load` is the id of a stored load, or the full load when it comes from outside.
        On a stop the change waits for the alarm's resolution ("accept" applies it).
        """
        with self._lock:
            if isinstance(load, str):
                p = self.yard.where.get(load)
                if p is None:
                    raise UnknownLoad(load)
                ld = self.yard.at[p]
            else:
                ld = _as_load(load)
                if ld.rfid_tag is not None:
                    read_args.setdefault("expected_tag", ld.rfid_tag)
                if ld.id in self.yard.where:
                    read_args["duplicate_of"] = self.yard.position_of(ld.id)
            with self.repo.batch():  # the record, the alarm and its stopped drop commit together
                result = self.tally("drop", ld.id, place=destination, **read_args)
                if result.get("alarm") and result["outcome"] != Outcome.DUPLICATE.value:
                    alarm = result["alarm"]
                    alarm["pending_drop"] = {"load": ld.to_dict(), "destination": destination,
                                             "machine_id": read_args.get("machine_id"),
                                             "leg_id": read_args.get("leg_id")}
                    self.repo.put_alarm(alarm)
                    self._pending[alarm["id"]] = _Pending(ld, destination, read_args.get("machine_id"),
                                                          read_args.get("leg_id"))
            if result["action"] == Action.CONFIRM.value:
                result["inventory"] = self._apply_drop(ld, destination, read_args.get("machine_id"),
                                                       read_args.get("leg_id"))
            return result

    def resolve_alarm(self, alarm_id: str, action: str, by: str) -> dict[str, Any]:
        """An operator's answer: accept (apply the stopped drop), re-read, or check station."""
        if action not in ALARM_OPTIONS:
            raise InventoryError(f"alarm action {action!r}: one of {', '.join(ALARM_OPTIONS)}")
        with self._lock:
            found = [a for a in self.repo.alarms(limit=5000) if a["id"] == alarm_id]
            if not found:
                raise UnknownAlarm(alarm_id)
            alarm = found[0]
            if alarm["state"] != "open":
                raise InventoryConflict(f"tally alarm {alarm_id!r} is already {alarm['state']}")
            pending = self._pending.pop(alarm_id, None)
            stored = alarm.get("pending_drop")
            if pending is None and stored:  # after a restart: the stopped drop is in the alarm
                pending = _Pending(Load.from_dict(stored["load"]), stored["destination"], stored.get("machine_id"),
                                   stored.get("leg_id"))
            change = None
            if action == "accept" and pending is not None:
                change = self._apply_drop(pending.load, pending.destination, pending.machine_id, pending.leg_id)
                self._record("drop", pending.load.id, LabelRead(), Decision(
                    Outcome.ACCEPTED, Action.CONFIRM, alarm.get("read"), f"accepted by {by} after {alarm_id}"),
                    pending.destination, alarm.get("image_id"), None, 0, pending.leg_id, pending.machine_id)
            alarm.update(state="resolved", resolution=action, resolved_s=self.now(), resolved_by=by)
            if change is not None:
                alarm["inventory"] = change
            self.repo.put_alarm(alarm)
            self.emit("tally.alarm_resolved", alarm)
            return alarm


def stock_counts(service: InventoryService) -> dict[str, int]:
    """Small figures for dashboards: positions, occupied, and stored per kind."""
    fill = service.yard.fill()
    fill["hazardous"] = int(sum(1 for ld in service.yard.at.values() if ld.hazard_class))
    fill["free_reachable"] = int(np.sum(service.layout.reachable & ~service.yard.occupied))
    return fill
