"""Inventory and smart tally in the core's pick/drop path.

`FleetCore` calls `StockKeeper.on_progress` on its command thread when traffic
reports that a machine picked (PICKED) or set down (DROPPED) the load of a leg.
What happens then:

1. The load is named: the order's `load_id` (the WMS gave it), else the load the
   inventory holds at the order's source slot, else a new incoming load named after
   the order. It is written into the order's legs (`extra["load_id"]`, `["load"]`),
   so every later leg and a restarted core know it.
2. A tally job goes to a worker thread: the machine's tally camera (a `FrameSource`;
   the demo's is `sim.sensing.SimCameras`, which draws the frame the simulated camera
   takes of that load, honouring `swap_label` faults) gives up to `max_attempts`
   frames, each decoded with the inventory's `LabelReader` (zxing-cpp), until one
   reads. Rendering and decoding never run on the core's thread.
3. The reads come back as one core command. At a pickup they are recorded
   (`InventoryService.confirm_pickup`); at a drop `confirm_drop` records them and, on a
   match, moves the load in the inventory. Those writes go through the store's own
   writer connection inside the core's transaction, so they commit with the command.
4. A read that stops the leg (mismatch, ambiguous, duplicate, escalated unreadable)
   raises a `tally_mismatch` alarm in the core (so it is in `GET /api/v1/alarms` and
   the page's list) naming the inventory's tally alarm and its options; at a pickup
   the machine is also paused (held) until a dispatcher resumes it. At a drop the
   inventory keeps the change pending until the tally alarm is answered ("accept"
   applies it, `POST /api/v1/inventory/alarms/{id}/resolve`).

Durability: the drop's job is a row of `stock_jobs`, written in the same transaction
as the DROPPED progress and deleted in the one that applies the tally, so a kill -9 in
between re-runs the job at the next start (`recover`). The inventory changes only in
that second transaction: only once the machine has confirmed the drop. A pickup job
lost in a crash loses only its tally record.

Without a `FrameSource` there is no tally: a confirmed drop moves the load directly.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fleet.core.alarm import AlarmKind, Severity
from fleet.core.requests import MachineAction
from fleet.core.strategies import LegProgress, Stage
from fleet.domain import Leg, LegKind, Order
from fleet.errors import FleetError
from fleet.inventory.load import Load
from fleet.inventory.repository import InventoryRepository
from fleet.store import Tx

if TYPE_CHECKING:
    from fleet.core.core import FleetCore
    from fleet.inventory.service import InventoryService

log = logging.getLogger(__name__)

JOBS_TABLE = "CREATE TABLE IF NOT EXISTS stock_jobs (id TEXT PRIMARY KEY, body TEXT NOT NULL, created_s {real} NOT NULL)"
COIL = {"width_m": 1.4, "diameter_m": 1.6}  # a new incoming coil when the order names no load


class FrameSource(Protocol):
    """A machine's tally camera: one frame of the load it handles (image, image id, truth)."""

    def frame(self, machine_id: str, load_id: str, *, others: tuple[str, ...] = ()) -> tuple[Any, str, tuple[str, ...]]:
        ...


class JoinedRepository(InventoryRepository):
    """The inventory's repository on the store's writer connection and write lock.

    Outside the core's transaction it commits as usual; inside `joined()` (the core's
    thread, in `store.transaction()`) its writes join that transaction and commit with it.
    """

    @contextlib.contextmanager
    def joined(self) -> Iterator[None]:
        with self._lock:
            self._depth += 1  # batch() then neither begins nor commits: the store's tx does
            try:
                yield
            finally:
                self._depth -= 1


def build_inventory(store: Any, site: Any, *, now: Any = None, emit: Any = None) -> InventoryService:
    """An `InventoryService` on the store's database (its tables made on first use)."""
    from fleet.inventory.service import InventoryService

    dialect = store.dialect.name
    repo = JoinedRepository(store._writer, dialect, lock=store._write_lock)
    svc = InventoryService(site, repo, now=now, emit=emit)
    svc._lock = store._write_lock
    with store.transaction() as tx:
        tx.execute(JOBS_TABLE.format(real=store.dialect.real))
    return svc


def seed_stock(svc: InventoryService, share: float = 0.5, seed: int = 5) -> int:
    """Fill an empty inventory for a demo: `share` of the floor positions (coils in crane
    bays, pallets in racks), ids C-0001... and P-0001...; returns how many were stored."""
    import numpy as np


    if svc.yard.at:
        return 0
    lay, rng = svc.layout, np.random.default_rng(seed)
    n = 0
    with svc.repo.batch():  # one commit for the whole stock take
        n = _seed(svc, lay, rng, share)
    return n


def _seed(svc: InventoryService, lay: Any, rng: Any, share: float) -> int:
    from fleet.inventory.layout import UPPER

    n = 0
    for p in range(lay.n):
        if int(lay.kind[p]) == UPPER or not lay.reachable[p] or rng.random() >= share:
            continue
        coil = bool(lay.bay[p])
        weight = float(round(min(float(lay.max_weight_kg[p]), rng.uniform(8000, 25000) if coil
                                 else rng.uniform(100, 800)), 1))
        dims = dict(COIL) if coil else {}
        if coil:
            dims = {"width_m": min(COIL["width_m"], float(lay.max_width_m[p])),
                    "diameter_m": min(COIL["diameter_m"], float(lay.max_diameter_m[p]))}
        load = Load(id=f"{'C' if coil else 'P'}-{n + 1:04d}", type="coil" if coil else "pallet",
                    weight_kg=weight, **dims, turnover="ABC"[int(rng.integers(3))])
        try:
            svc.store(load, lay.ids[p])
            n += 1
        except FleetError:
            continue
    return n


@dataclass(frozen=True)
class _Job:
    id: str
    stage: str  # pickup | drop
    leg_id: str
    order_id: str | None
    machine_id: str
    place: str
    load: dict[str, Any]
    others: tuple[str, ...] = ()


class StockKeeper:
    """The core's side of inventory and tally (see the module docstring)."""

    def __init__(self, inventory: InventoryService, frames: FrameSource | None = None, *,
                 max_attempts: int = 3) -> None:
        self.inventory = inventory
        self.frames = frames
        self.max_attempts = max_attempts
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="tally")
        self.stats = {"jobs": 0, "applied": 0, "alarms": 0, "errors": 0}
        self._inflight: set[str] = set()  # job ids submitted and not applied yet

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- core thread, inside the core's transaction
    def on_progress(self, core: FleetCore, tx: Tx, leg: Leg, order: Order | None, p: LegProgress) -> None:
        if p.stage not in (Stage.PICKED, Stage.DROPPED) or leg.kind not in (LegKind.AGV, LegKind.CRANE):
            return
        load = self._load_of(core, tx, leg, order)
        if load is None:
            return
        stage = "pickup" if p.stage == Stage.PICKED else "drop"
        place = leg.source if stage == "pickup" else leg.destination
        others = tuple(ld for ld in list(self.inventory.yard.where)[:8] if ld != load.id)
        job = _Job(f"{leg.id}:{stage}", stage, leg.id, leg.order_id, p.machine_id, place, load.to_dict(), others)
        if stage == "drop":
            tx.execute(core.store.dialect.sql("DELETE FROM stock_jobs WHERE id = ?"), (job.id,))
            tx.execute(core.store.dialect.sql("INSERT INTO stock_jobs (id, body, created_s) VALUES (?, ?, ?)"),
                       (job.id, json.dumps(job.__dict__), core.clock.now()))
        self._submit(core, job)

    def _load_of(self, core: FleetCore, tx: Tx, leg: Leg, order: Order | None) -> Load | None:
        """The load this order moves, named once and written into its legs."""
        if leg.extra.get("load"):
            return Load.from_dict(json.loads(leg.extra["load"]))
        if order is None:
            return None
        inv = self.inventory
        load: Load | None = None
        lid = leg.extra.get("load_id") or order.load_id
        if lid and lid in inv.yard.where:
            load = inv.yard.at[inv.yard.where[lid]]
        elif lid:
            load = Load(id=lid, type=order.load_type, weight_kg=order.weight_kg,
                        **(COIL if order.load_type == "coil" else {}))
        else:
            ps = inv.layout.positions_of_slot(order.source)
            held = [inv.yard.at[q] for q in sorted(ps, key=lambda q: -int(inv.layout.tier[q])) if q in inv.yard.at]
            if held:
                load = held[0]  # the top one: what a crane lifts first
            elif ps:
                log.info("order %s picks at %s, which the inventory holds empty: no tally", order.id, order.source)
                return None
            else:  # from outside the inventory (a mill, an inbound dock): a new load
                load = Load(id=f"L-{order.id.removeprefix('ord-')[:10]}", type=order.load_type,
                            weight_kg=order.weight_kg, **(COIL if order.load_type == "coil" else {}))
        body = json.dumps(load.to_dict())
        for gid in order.legs:
            g = core._legs.get(gid)
            if g is not None:
                named = dataclasses.replace(g, extra={**g.extra, "load_id": load.id, "load": body})
                core._put_leg(named)
                tx.put_leg(named)
        return load

    def _submit(self, core: FleetCore, job: _Job) -> None:
        if job.id in self._inflight:
            return
        self._inflight.add(job.id)
        self.stats["jobs"] += 1
        fut = self._pool.submit(self._read, job)

        def done(f: concurrent.futures.Future[list[tuple[Any, str | None]]]) -> None:
            try:
                reads = f.result()
            except Exception:
                log.exception("tally read for %s failed", job.id)
                reads = []
            with contextlib.suppress(FleetError):  # a follower now: the next leader re-runs the job
                core._enqueue("stock.tally", lambda tx: self._apply(core, tx, job, reads))

        fut.add_done_callback(done)

    # ---- worker thread
    def _read(self, job: _Job) -> list[tuple[Any, str | None]]:
        """Frames until one reads (at most max_attempts): [(LabelRead, image_id), ...]."""
        from fleet.inventory.tally import LabelRead

        if self.frames is None:
            return []
        out: list[tuple[Any, str | None]] = []
        for _ in range(self.max_attempts):
            try:
                image, image_id, _shown = self.frames.frame(job.machine_id, job.load["id"], others=job.others)
                read = self.inventory.reader.read(image)
            except Exception as exc:  # a broken camera reads as nothing
                read, image_id = LabelRead(error=f"camera: {exc}"), None
            out.append((read, image_id))
            if read.load_ids:
                break
        return out

    # ---- core thread again, inside the core's transaction
    def _apply(self, core: FleetCore, tx: Tx, job: _Job, reads: list[tuple[Any, str | None]]) -> None:
        inv = self.inventory
        self._inflight.discard(job.id)
        tx.flush()  # the core's buffered writes first, then the inventory's (order of effects)
        load = Load.from_dict(job.load)
        stored = load.id in inv.yard.where
        result: dict[str, Any] | None = None
        try:
            with inv.repo.joined():  # type: ignore[attr-defined]
                common = {"leg_id": job.leg_id, "machine_id": job.machine_id}
                if not reads:
                    if job.stage == "drop":  # no camera: the machine's confirmation alone moves it
                        inv.store(load, job.place, **common)
                else:
                    for k, (read, image_id) in enumerate(reads[:-1], start=1):
                        inv.tally(job.stage, load.id, place=job.place, read=read, image_id=image_id, attempt=k,
                                  **common)
                    read, image_id = reads[-1]
                    args = {"read": read, "image_id": image_id, "attempt": len(reads), **common}
                    if job.stage == "pickup":
                        result = inv.confirm_pickup(load.id, job.place, **args)
                    else:
                        result = inv.confirm_drop(load.id if stored else load, job.place, **args)
        except FleetError as exc:  # refused by the stacking rules, blocked, unknown: tell the dispatcher
            self.stats["errors"] += 1
            core._raise_alarm(tx, AlarmKind.TALLY_MISMATCH, Severity.WARNING,
                              f"inventory refused the {job.stage} of {load.id} at {job.place}: {exc}",
                              machine_id=job.machine_id, order_id=job.order_id)
        except Exception:
            self.stats["errors"] += 1
            log.exception("tally %s could not be applied; the inventory is reloaded", job.id)
            self._reload()
        finally:
            if job.stage == "drop":
                tx.execute(core.store.dialect.sql("DELETE FROM stock_jobs WHERE id = ?"), (job.id,))
        self.stats["applied"] += 1
        if result is not None and result.get("alarm"):
            self._alarm(core, tx, job, load, result)

    def _alarm(self, core: FleetCore, tx: Tx, job: _Job, load: Load, result: dict[str, Any]) -> None:
        self.stats["alarms"] += 1
        tally = result["alarm"]
        read = result.get("read") or "nothing readable"
        what = "kept in the inventory until the alarm is answered" if job.stage == "drop" else "machine paused"
        core._raise_alarm(tx, AlarmKind.TALLY_MISMATCH, Severity.CRITICAL,
                          f"tally {result['outcome']} at {job.stage} of {load.id} at {job.place}: read {read}; "
                          f"{what} (tally alarm {tally['id']}: {', '.join(tally.get('options', []))})",
                          machine_id=job.machine_id, order_id=job.order_id)
        machine = core._machines.get(job.machine_id)
        if job.stage == "pickup" and machine is not None:
            with contextlib.suppress(FleetError):
                core._machine_action(tx, machine, MachineAction.PAUSE)

    def _reload(self) -> None:
        from fleet.inventory.yard import Yard

        inv = self.inventory
        inv.yard = Yard(inv.layout)
        inv.placed_s.clear()
        inv.restore_violations = inv._restore()

    # ---- at the core's start
    def recover(self, core: FleetCore) -> int:
        """Re-run the drop tallies a crash left between the drop and its tally."""
        try:
            rows = core.store.query("SELECT id, body FROM stock_jobs ORDER BY created_s")
        except FleetError:  # a store made before the keeper (no table yet): nothing to re-run
            return 0
        for row in rows:
            body = json.loads(row["body"])
            body["others"] = tuple(body.get("others") or ())
            self._submit(core, _Job(**body))
        return len(rows)
