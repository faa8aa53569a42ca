"""FleetCore: the one owner of orders, legs, machines, zones, alarms and time.

Every change goes through one command thread. Callers (API threads, the vehicle bus,
the simulator) put a command on the queue and get a `Future`; the thread takes a batch
of commands, applies them to the in-memory state and writes them in one store
transaction, commits, and only then resolves the futures and publishes the events.
So an order is durable before it is acknowledged, and a burst of submissions costs one
commit, not one each.

Between batches the thread runs the rounds: a traffic tick every planning period
(bounded by its budget) and, when something changed or at least every
`dispatch_period_s`, a dispatch round. The round itself runs on a worker thread over
a frozen snapshot, so a slow dispatcher never holds up a submission; its answer comes
back as one more command, checked against the state at that time.

With `threaded=False` nothing runs by itself: `run_once()` does one pass (commands,
dispatch inline, one tick), which the simulator and the tests use to step
deterministically on a `SimClock`. There the periods (dispatch, tick, link checks)
run on the core's clock, and `CoreSettings.work_limited` bounds planning by work instead
of wall seconds, so a shift gives the same result for its seed however busy the machine.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import itertools
import logging
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fleet.clock import Clock, WallClock
from fleet.core.alarm import AlarmKind, Severity, new_alarm
from fleet.core.dispatcher import Assignment, Decisions, Dispatcher, DispatchSnapshot, Machine
from fleet.core.greedy import GreedyDispatcher
from fleet.core.link import MachineLink, NullLink, link_score
from fleet.core.poses import PoseKeeper
from fleet.core.requests import SYSTEM, Actor, MachineAction, OrderRequest
from fleet.core.strategies import LegProgress, Stage, Traffic
from fleet.domain import (
    Crane,
    CraneId,
    Leg,
    LegId,
    LegKind,
    LegState,
    MachineId,
    Mode,
    Order,
    OrderId,
    OrderRejected,
    OrderState,
    Vehicle,
    VehicleId,
    Veto,
    transition_leg,
    transition_order,
)
from fleet.domain.commands import (
    Action,
    ActionType,
    InstantAction,
    MachineState,
    Measurements,
    MovementCommand,
    stopping_errors,
)
from fleet.errors import ConflictError, FleetError, NotFoundError
from fleet.events.bus import EventBus
from fleet.store import Store, StoreError, Tx

if TYPE_CHECKING:
    from maps.site import Site

log = logging.getLogger(__name__)

HELD_MODES = frozenset({Mode.PAUSED, Mode.ESTOPPED, Mode.OUT_OF_SERVICE})
MAX_ATTEMPTS = 3


class NotLeader(FleetError):
    """This instance is a follower; commands go to the leader."""

    status = 503
    kind = "not-leader"


class InvalidValue(FleetError):
    status = 422
    kind = "invalid-value"

    def __init__(self, field: str, detail: str) -> None:
        self.field = field
        super().__init__(detail)


@dataclass
class _Item:
    name: str
    fn: Callable[[Tx], Any]
    future: concurrent.futures.Future[Any] | None  # None: nobody waits for it (a machine's state)
    actor: Actor | None = None
    target: str | None = None


@dataclass(frozen=True)
class CoreSettings:
    dispatch_period_s: float = 2.0  # a dispatch round at least this often
    dispatch_min_gap_s: float = 0.2  # and at most this often when events pour in
    tick_period_s: float = 0.25  # traffic tick (the planning period)
    tick_budget_s: float = 0.1
    link_timeout_s: float = 5.0  # no state for this long: the link is lost
    max_batch: int = 512
    machine_flush_s: float = 5.0  # persist poses and batteries this often
    # plan by work caps, not wall seconds (a simulated clock: deterministic for a seed)
    work_limited: bool = False
    # ids (orders, charge legs, commands, alarms) drawn from this seed instead of uuid4: ties
    # between equal costs break on ids, so a simulated shift repeats only with repeatable ids.
    # Only for a core on a fresh store (a simulated shift): seeded ids would clash with stored ones.
    id_seed: int | None = None


class FleetCore:
    """The orchestrator. Construct, `start()`, call commands, `stop()`.

    Commands return `concurrent.futures.Future`s (`.result()` blocks; the API awaits
    them with `asyncio.wrap_future`). Reads (`machines()`, `zones()`, ...) return
    snapshots and never wait for the command thread.
    """

    def __init__(
        self,
        store: Store,
        site: Site | None = None,
        *,
        machines: Iterable[Machine] = (),
        clock: Clock | None = None,
        dispatcher: Dispatcher | None = None,
        traffic: Traffic | None = None,
        link: MachineLink | None = None,
        bus: EventBus | None = None,
        settings: CoreSettings | None = None,
        threaded: bool = True,
        metrics: Any = None,
        localization: PoseKeeper | None = None,
        stock: Any = None,
    ) -> None:
        self.store = store
        self.site = site
        self.clock: Clock = clock or WallClock()
        self.settings = settings or CoreSettings()
        if dispatcher is None and site is not None:
            from fleet.core.site_dispatch import SiteDispatcher  # the production dispatcher

            dispatcher = SiteDispatcher(site, work_limited=self.settings.work_limited)
        self.dispatcher: Dispatcher = dispatcher or GreedyDispatcher()
        self.traffic = traffic
        self.link: MachineLink = link or NullLink()
        self.bus = bus or EventBus()
        self.threaded = threaded
        self.metrics = metrics
        self.localization = localization or PoseKeeper(site)  # fused poses (fleet/core/poses.py)
        self.stock = stock  # inventory and tally at pick and drop (fleet/core/stock.py), or None
        self._pose_stopped: set[str] = set()  # machines stopped because their pose is LOST
        self.leader = True
        self.ready = False
        self._configured: dict[str, Machine] = {m.id: m for m in machines}
        if site is not None:
            for bay in site.crane_bays:
                for spec in bay.cranes:
                    self._configured.setdefault(spec.id, Crane(
                        id=CraneId(spec.id), bay=bay.id, bridge_m=spec.home_m,
                        capabilities=dataclasses.replace(
                            Crane(id=CraneId(spec.id), bay=bay.id).capabilities,
                            payload_kg=spec.payload_kg,
                            load_types=spec.load_types or ("coil",))))
        # state (owned by the command thread; readers copy)
        self._orders: dict[str, Order] = {}
        self._legs: dict[str, Leg] = {}
        self._machines: dict[str, Machine] = {}
        self._held: dict[str, Mode] = {}
        self._reported: dict[str, Mode] = {}
        self._closed: set[str] = set()
        self._alarms: dict[str, dict[str, Any]] = {}
        self._poses: dict[str, dict[str, Any]] = {}
        self._paths: dict[str, list[str]] = {}
        self._open: dict[int, dict[str, None]] = {}  # priority -> open leg ids, oldest first
        self._stored_held: dict[str, Mode] = {}
        self._pose_version = 0
        self._dirty_machines: set[str] = set()
        # queue
        self._queue: collections.deque[_Item] = collections.deque()
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._dispatch_inflight: concurrent.futures.Future[list[Assignment] | Decisions] | None = None
        self._dispatch_wanted = True
        self._last_dispatch = 0.0
        self._last_tick = 0.0
        self._last_flush = 0.0
        self._last_idle_round = 0.0
        self._last_stepped_dispatch = -math.inf
        self._order_errors: dict[str, set[str]] = {}  # order refusals a machine reports now
        self._rich_dispatcher = bool(getattr(self.dispatcher, "plans_rounds", False))
        self._ids = itertools.count(1)
        self._busy_samples: collections.deque[tuple[float, float]] = collections.deque(maxlen=3600)
        self.stats = {"batches": 0, "commands": 0, "dispatch_rounds": 0, "ticks": 0}
        self._id_rng = random.Random(self.settings.id_seed) if self.settings.id_seed is not None else None
        self._run_id = self._new_hex(6)

    def _new_hex(self, digits: int) -> str:
        """A fresh id part: random, or from `CoreSettings.id_seed` (repeatable shifts)."""
        if self._id_rng is None:
            return uuid.uuid4().hex[:digits]
        return f"{self._id_rng.getrandbits(4 * digits):0{digits}x}"

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FleetCore:
        """Recover state from the store, ask every machine for its state, start the thread."""
        self._stop.clear()
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="dispatch")
        self._recover()
        self.ready = True
        if self.threaded:
            self._thread = threading.Thread(target=self._run, name="fleet-core", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._cv:
            pending, self._queue = list(self._queue), collections.deque()
        for item in pending:  # never applied: say so rather than leave the caller waiting
            if item.future is not None and not item.future.done():
                item.future.set_exception(NotLeader("the core stopped before applying this command; retry"))
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self._dispatch_inflight = None
        with contextlib.suppress(StoreError):
            self._flush_machines(force=True)
        self.ready = False

    def _recover(self) -> None:
        """Load the live state from the store (after a restart or a takeover)."""
        now = self.clock.now()
        stored = {m.id: (m, held) for m, held in self.store.machines()}
        self._machines.clear()
        self._held.clear()
        for mid, conf in self._configured.items():
            if mid in stored:
                old, held = stored.pop(mid)
                keep = {f: getattr(old, f) for f in ("x", "y", "node", "load_id", "leg_id", "bridge_m", "trolley_m", "hoist_m")
                        if hasattr(conf, f) and hasattr(old, f)}
                if isinstance(conf, Vehicle) and isinstance(old, Vehicle):
                    keep.update(battery=old.battery, heading_rad=old.heading_rad)
                machine = dataclasses.replace(conf, **keep)
            else:
                machine, held = conf, None
            self._machines[mid] = dataclasses.replace(machine, link_ok=False, mode=Mode.OFFLINE, leg_id=None)
            if held:
                self._held[mid] = Mode(held)
        for mid, (old, held) in stored.items():  # machines that registered themselves earlier
            self._machines[mid] = dataclasses.replace(old, link_ok=False, mode=Mode.OFFLINE, leg_id=None)
            if held:
                self._held[mid] = Mode(held)
        for mid in self._machines:
            self._reported[mid] = Mode.OFFLINE
            self._machines[mid] = dataclasses.replace(self._machines[mid], mode=self._mode(mid))
        self._closed = {z.id for z in self.site.zones if z.closed} if self.site else set()
        for zone_id, closed in self.store.zones().items():
            (self._closed.add if closed else self._closed.discard)(zone_id)
        self._orders = {o.id: o for o in self.store.active_orders()}
        self._legs = {}
        self._open = {}
        for leg in sorted(self.store.active_legs(), key=lambda g: (g.created_s, g.id)):
            self._put_leg(leg)
        self._alarms = {a["id"]: a for a in self.store.alarms(open_only=True)}
        if self.traffic is not None:
            self.traffic.set_blocked_zones(frozenset(self._closed))
        for leg in sorted(self._legs.values(), key=lambda g: g.created_s):
            if leg.state in (LegState.ASSIGNED, LegState.TO_PICKUP, LegState.LOADED) and leg.machine_id:
                machine = self._machines.get(leg.machine_id)
                if machine is None:
                    continue
                self._machines[leg.machine_id] = dataclasses.replace(machine, leg_id=leg.id)
                if self.traffic is not None:
                    self.traffic.assign(leg, leg.machine_id, now)
        self.bus.last_id = max(self.bus.last_id, self.store.last_event_id())
        for mid in self._machines:
            self._send(InstantAction(f"sync-{self._run_id}-{mid}", mid,
                                     (Action(f"sync-{self._run_id}-{mid}", ActionType.STATE_REQUEST),), now))
        self._dispatch_wanted = True
        if self.stock is not None:
            try:
                self.stock.recover(self)  # drop tallies a crash left undone
            except Exception:
                log.exception("stock jobs could not be recovered")
        log.info("core recovered: %d active orders, %d active legs, %d machines",
                 len(self._orders), len(self._legs), len(self._machines))

    # ------------------------------------------------------------------ queue
    def _enqueue(self, name: str, fn: Callable[[Tx], Any], actor: Actor | None = None,
                 target: str | None = None, urgent: bool = False) -> concurrent.futures.Future[Any]:
        if not self.leader:
            raise NotLeader("this instance is a follower; send commands to the leader")
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        item = _Item(name, fn, fut, actor, target)
        with self._cv:
            if urgent:
                self._queue.appendleft(item)
            else:
                self._queue.append(item)
            self._cv.notify()
        return fut

    def _take(self, timeout_s: float) -> list[_Item]:
        with self._cv:
            if not self._queue and timeout_s > 0:
                self._cv.wait(timeout_s)
            n = min(len(self._queue), self.settings.max_batch)
            return [self._queue.popleft() for _ in range(n)]

    def _apply_batch(self, batch: Sequence[_Item]) -> None:
        results: list[tuple[_Item, Any, BaseException | None]] = []
        reload = False
        t0 = time.perf_counter()
        try:
            with self.store.transaction() as tx:
                for item in batch:
                    mark = len(tx.events)
                    guarded = item.actor is not None  # API commands are all-or-nothing each
                    if guarded:
                        tx.savepoint()
                    try:
                        res = item.fn(tx)
                        err: BaseException | None = None
                    except FleetError as exc:
                        res, err = None, exc
                    except Exception as exc:
                        log.exception("command %s failed", item.name)
                        res, err, reload = None, exc, True
                    if guarded:
                        if err is not None:
                            tx.rollback_savepoint()
                            del tx.events[mark:]
                        tx.release_savepoint()
                    if item.actor is not None:
                        tx.add_audit(self.clock.now(), item.actor.name, item.actor.role, item.actor.token_id,
                                     item.name, item.target, item.actor.source,
                                     "ok" if err is None else getattr(err, "kind", "error"),
                                     None if err is None else str(err)[:500])
                    results.append((item, res, err))
                events = list(tx.events)
        except Exception as exc:
            log.exception("store commit failed; %d commands refused, state reloaded", len(batch))
            for item in batch:
                if item.future is not None and not item.future.done():
                    item.future.set_exception(StoreError(f"store commit failed: {exc}"))
            with contextlib.suppress(Exception):
                self._recover()
            return
        self.stats["batches"] += 1
        self.stats["commands"] += len(batch)
        if self.metrics is not None:
            self.metrics.batch_seconds.observe(time.perf_counter() - t0)
            self.metrics.batch_size.observe(len(batch))
        self.bus.publish(events)
        for item, res, err in results:
            if item.future is None or item.future.cancelled():
                continue  # a caller that gave up waiting (its command still applied, as a 503 says)
            if err is None:
                item.future.set_result(res)
            else:
                item.future.set_exception(err)
        if reload:
            with contextlib.suppress(Exception):
                self._recover()

    # ------------------------------------------------------------------ loop
    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            wait = min(self._last_tick + self.settings.tick_period_s - now,
                       self._last_dispatch + self.settings.dispatch_period_s - now, 0.05)
            batch = self._take(max(wait, 0.0))
            try:
                if batch:
                    self._apply_batch(batch)
                self._rounds(inline=False)
            except Exception:
                log.exception("core round failed")
                time.sleep(0.05)

    def run_once(self, dispatch: bool = True) -> None:
        """One pass without the thread: all queued commands, a dispatch round, a tick.
        `dispatch=False`: the tick only (a stepper that dispatches less often than it plans)."""
        while True:
            batch = self._take(0)
            if not batch:
                break
            self._apply_batch(batch)
        if dispatch:
            self._dispatch_wanted = True
        self._rounds(inline=True, force=True, dispatch=dispatch)
        while True:  # what the rounds queued (their results)
            batch = self._take(0)
            if not batch:
                break
            self._apply_batch(batch)

    def dispatch_due(self, period_s: float, min_gap_s: float) -> bool:
        """For a stepper on a simulated clock: is a dispatch round due now, on the core's
        own clock? Every `period_s`, and `min_gap_s` after an event that wants one (a leg
        done, a machine back), so rounds cost what they would in a real shift."""
        now = self.clock.now()
        since = now - self._last_stepped_dispatch
        if since >= period_s or (self._dispatch_wanted and since >= min_gap_s):
            self._last_stepped_dispatch = now
            return True
        return False

    def _rounds(self, inline: bool, force: bool = False, dispatch: bool = True) -> None:
        # stepped (inline), the periods run on the core's clock, as the rest of the shift does
        now = self.clock.now() if inline else time.monotonic()
        # dispatch
        fut = self._dispatch_inflight
        if fut is not None and fut.done():
            self._dispatch_inflight = None
            try:
                assignments = fut.result()
            except Exception:
                log.exception("dispatch round failed")
                assignments = []
            self._apply_batch([self._assignment_item(assignments)])
        due = now - self._last_dispatch >= self.settings.dispatch_period_s
        quick = self._dispatch_wanted and now - self._last_dispatch >= self.settings.dispatch_min_gap_s
        if dispatch and self._dispatch_inflight is None and (force or due or quick):
            self._last_dispatch = now
            self._dispatch_wanted = False
            snapshot = self._snapshot()
            if snapshot.legs or (self._rich_dispatcher and snapshot.all_legs) or (
                    self._rich_dispatcher and self._idle_round_due(now)):
                if inline:
                    self._apply_batch([self._assignment_item(self._timed_assign(snapshot))])
                else:
                    assert self._pool is not None
                    self._dispatch_inflight = self._pool.submit(self._timed_assign, snapshot)
        # traffic tick
        if force or now - self._last_tick >= self.settings.tick_period_s:
            self._last_tick = now
            self._fuse_poses()
            self._tick()
        if now - self._last_flush >= self.settings.machine_flush_s:  # on its period, stepped too
            self._last_flush = now
            self._check_links()
            self._flush_machines()

    def _idle_round_due(self, now: float) -> bool:
        """A round with no legs still matters to a dispatcher that plans charging."""
        if now - self._last_idle_round < self.settings.dispatch_period_s * 5:
            return False
        self._last_idle_round = now
        return True

    def _timed_assign(self, snapshot: DispatchSnapshot) -> list[Assignment] | Decisions:
        t0 = time.perf_counter()
        try:
            return self.dispatcher.assign(snapshot)
        finally:
            self.stats["dispatch_rounds"] += 1
            if self.metrics is not None:
                self.metrics.dispatch_seconds.observe(time.perf_counter() - t0)

    def _snapshot(self) -> DispatchSnapshot:
        """The round's view. Open legs are cut to a window (most urgent first, a few per
        free machine), so a backlog of thousands of orders does not slow every round."""
        machines = tuple(self._machines.values())
        window = max(64, 4 * sum(1 for m in machines if m.available))
        open_legs: list[Leg] = []
        for priority in sorted(self._open, reverse=True):
            for leg_id in self._open[priority]:
                open_legs.append(self._legs[leg_id])
                if len(open_legs) >= window:
                    break
            if len(open_legs) >= window:
                break
        busy = [g for g in self._legs.values() if g.state != LegState.OPEN] if self._rich_dispatcher else []
        return DispatchSnapshot(
            now_s=self.clock.now(),
            legs=tuple(open_legs),
            machines=machines,
            closed_zones=frozenset(self._closed),
            site=self.site,
            all_legs=tuple(busy + open_legs),
        )

    def _tick(self) -> None:
        now = self.clock.now()
        busy = sum(1 for m in self._machines.values() if m.leg_id is not None)
        self._busy_samples.append((now, busy / max(len(self._machines), 1)))
        if self.traffic is None:
            return
        t0 = time.perf_counter()
        commands = self.traffic.tick(now, math.inf if self.settings.work_limited else self.settings.tick_budget_s)
        self.stats["ticks"] += 1
        if self.metrics is not None:
            self.metrics.tick_seconds.observe(time.perf_counter() - t0)
        for cmd in commands:
            self._send(cmd)
        self._paths = {m.id: self.traffic.planned_path(m.id) for m in self._machines.values() if m.leg_id}

    def _send(self, cmd: Any) -> None:
        if isinstance(cmd, MovementCommand) and self.localization.quality(cmd.machine_id) == "degraded":
            cap = self.localization.policy.degraded_speed_mps  # DEGRADED: every step released from now on is slow
            cmd = dataclasses.replace(cmd, edges=tuple(
                dataclasses.replace(e, max_speed_mps=min(e.max_speed_mps or cap, cap)) for e in cmd.edges))
        try:
            self.link.send(cmd)
        except Exception:  # a link failure must not stop the core; the link reports it
            log.exception("sending %s to %s failed", type(cmd).__name__, getattr(cmd, "machine_id", "?"))

    # ------------------------------------------------------------------ writes (command thread)
    def _event(self, tx: Tx, type_: str, payload: dict[str, Any]) -> None:
        tx.add_event(type_, self.clock.now(), payload)

    def _set_order(self, tx: Tx, order: Order, previous: OrderState | None, *, stage: str | None = None,
                   leg: Leg | None = None, detail: str | None = None, body_hash: str | None = None) -> None:
        if order.terminal:
            self._orders.pop(order.id, None)
        else:
            self._orders[order.id] = order
        tx.put_order(order, body_hash)
        machine_id = leg.machine_id if leg else None
        tx.add_timeline(order.id, order.updated_s, order.state.value, stage, leg.id if leg else None,
                        machine_id, detail)
        self._event(tx, "order.state", {
            "order_id": order.id, "client_id": order.client_id, "state": order.state.value,
            "previous": previous.value if previous else None, "priority": order.priority,
            "stage": stage, "leg_id": leg.id if leg else None, "machine_id": machine_id,
            "reason": order.reason, "at_s": order.updated_s,
        })
        if self.metrics is not None and previous != order.state:
            self.metrics.order_transitions.labels(order.state.value).inc()

    def _index_leg(self, leg: Leg) -> None:
        """Keep the open legs by priority, oldest first, so a round reads only its window."""
        for bucket in self._open.values():
            bucket.pop(leg.id, None)
        if leg.state == LegState.OPEN and not leg.terminal:
            self._open.setdefault(leg.priority, {})[leg.id] = None

    def _put_leg(self, leg: Leg) -> None:
        if leg.terminal:
            self._legs.pop(leg.id, None)
        else:
            self._legs[leg.id] = leg
        self._index_leg(leg)

    def _set_leg(self, tx: Tx, leg: Leg, previous: LegState | None) -> None:
        self._put_leg(leg)
        tx.put_leg(leg)
        self._event(tx, "leg.state", {
            "leg_id": leg.id, "order_id": leg.order_id, "kind": leg.kind.value, "state": leg.state.value,
            "previous": previous.value if previous else None, "machine_id": leg.machine_id,
            "source": leg.source, "destination": leg.destination, "at_s": leg.updated_s,
        })

    def _mode(self, machine_id: str) -> Mode:
        held = self._held.get(machine_id)
        if held is None and machine_id in self._pose_stopped and self._reported.get(machine_id) == Mode.AUTO:
            return Mode.PAUSED  # stopped by the core: its pose is LOST
        return held or self._reported.get(machine_id, Mode.AUTO)

    def _set_machine(self, tx: Tx | None, machine: Machine, previous: Machine | None) -> None:
        self._machines[machine.id] = machine
        if tx is None:
            self._dirty_machines.add(machine.id)
            return
        tx.put_machine(machine, self._held.get(machine.id, None) and self._held[machine.id].value)
        self._dirty_machines.discard(machine.id)
        self._event(tx, "machine.state", self.machine_public(machine))

    def machine_public(self, m: Machine) -> dict[str, Any]:
        """A machine as the API and the events show it."""
        held = (self._stored_held if self.serving_from_store else self._held).get(m.id)
        out: dict[str, Any] = {
            "machine_id": m.id, "kind": "crane" if isinstance(m, Crane) else "agv",
            "mode": m.mode.value, "held": held.value if held else None,
            "leg_id": m.leg_id, "load_id": m.load_id, "link_ok": m.link_ok, "last_state_s": m.last_state_s,
            "capabilities": {"payload_kg": m.capabilities.payload_kg,
                             "load_types": list(m.capabilities.load_types),
                             "hazardous_rated": m.capabilities.hazardous_rated},
        }
        if isinstance(m, Vehicle):
            out.update(node=m.node, x=m.x, y=m.y, heading_rad=m.heading_rad, battery=m.battery,
                       charging=m.charging, link_latency_ms=m.link_latency_ms)
        else:
            out.update(bay=m.bay, bridge_m=m.bridge_m, trolley_m=m.trolley_m, hoist_m=m.hoist_m)
        out.update(self.localization.view(m.id) or {})
        leg = self._legs.get(m.leg_id) if m.leg_id and not self.serving_from_store else None
        out["order_id"] = leg.order_id if leg is not None else None
        out["link_quality"] = link_score(self.link, m)
        return out

    def _raise_alarm(self, tx: Tx, kind: AlarmKind, severity: Severity, message: str,
                     machine_id: str | None = None, order_id: str | None = None) -> dict[str, Any]:
        for alarm in self._alarms.values():  # one open alarm per kind and subject
            if (alarm["kind"] == kind.value and alarm["machine_id"] == machine_id
                    and alarm["order_id"] == order_id and alarm["acknowledged_s"] is None):
                return alarm
        alarm = new_alarm(f"al-{self._new_hex(12)}", kind, severity, message, self.clock.now(),
                          machine_id, order_id)
        self._alarms[alarm["id"]] = alarm
        tx.put_alarm(alarm)
        self._event(tx, "alarm.raised", alarm)
        return alarm

    def _flush_machines(self, force: bool = False) -> None:
        if not self._dirty_machines:
            return
        dirty = list(self._dirty_machines)
        self._dirty_machines.clear()
        with self.store.transaction() as tx:
            for mid in dirty:
                m = self._machines.get(mid)
                if m is not None:
                    tx.put_machine(m, self._held[mid].value if mid in self._held else None)

    def _check_links(self) -> None:
        now = self.clock.now()
        lost = [m for m in self._machines.values()
                if m.link_ok and now - m.last_state_s > self.settings.link_timeout_s]
        if not lost:
            return

        def apply(tx: Tx) -> None:
            for m in lost:
                current = self._machines.get(m.id)
                if current is None or not current.link_ok or now - current.last_state_s <= self.settings.link_timeout_s:
                    continue
                self._reported[m.id] = Mode.OFFLINE
                self._set_machine(tx, dataclasses.replace(current, link_ok=False, mode=self._mode(m.id)), current)
                self._raise_alarm(tx, AlarmKind.LINK_LOST, Severity.WARNING,
                                  f"no state from {m.id} for {now - current.last_state_s:.1f} s", machine_id=m.id)

        self._apply_batch([_Item("link-check", apply, None)])

    # ------------------------------------------------------------------ commands (public)
    def record_event(self, type_: str, payload: dict[str, Any]) -> None:
        """An event from a part beside the core (the inventory, the tally): stored and
        streamed in the core's next batch, so it has an id, survives a restart, and reaches
        SSE, WebSocket and webhook clients like every other event. (A follower's parts
        do not change state; the leader's record it.)"""
        with contextlib.suppress(NotLeader):
            self._enqueue("event", lambda tx: self._event(tx, type_, payload))

    def submit_order(self, req: OrderRequest, actor: Actor = SYSTEM) -> concurrent.futures.Future[tuple[Order, bool]]:
        """Store a new order (or find the same earlier one): resolves to (order, created).

        Raises (through the future) OrderRejected when it can never be done, and
        ConflictError when `client_id` was used before with a different body.
        """
        if not 0 <= req.priority <= 9:
            raise InvalidValue("priority", f"priority {req.priority} is outside 0..9")
        body_hash = req.body_hash()

        def apply(tx: Tx) -> tuple[Order, bool]:
            if req.client_id:
                found = tx.order_by_client(req.client_id)
                if found is not None:
                    old, old_hash = found
                    if old_hash != body_hash:
                        raise ConflictError(f"client id {req.client_id!r} was used for order {old.id} with a different body")
                    return old, False
            now = self.clock.now()
            order = Order(
                id=OrderId(f"ord-{self._new_hex(16)}"), source=req.source, destination=req.destination,
                load_type=req.load_type, weight_kg=req.weight_kg, priority=req.priority,
                deadline_s=req.deadline_s, hazardous=req.hazardous, client_id=req.client_id,
                load_id=req.load_id, created_s=now, updated_s=now,
            )
            if req.deadline_s is not None and req.deadline_s < now:
                raise OrderRejected(Veto.DEADLINE_PASSED, f"deadline {req.deadline_s} is before now ({now:.1f})",
                                    field="deadline_s")
            legs = self.dispatcher.split(order, self.site, list(self._machines.values()), frozenset(self._closed))
            order = dataclasses.replace(order, legs=tuple(leg.id for leg in legs))
            self._set_order(tx, order, None, body_hash=body_hash, detail="created")
            for leg in legs:
                self._set_leg(tx, leg, None)
            queued = transition_order(order, OrderState.QUEUED, now)
            self._set_order(tx, queued, order.state)
            self._dispatch_wanted = True
            return queued, True

        return self._enqueue("order.submit", apply, actor, req.client_id)

    def cancel_order(self, order_id: str, reason: str = "cancelled", actor: Actor = SYSTEM) -> concurrent.futures.Future[Order]:
        def apply(tx: Tx) -> Order:
            order = self._orders.get(order_id)
            if order is None:
                stored = self.store.get_order(order_id)
                if stored is None:
                    raise NotFoundError("order", order_id)
                raise ConflictError(f"order {order_id} is {stored.state.value} and cannot be cancelled")
            legs = [self._legs[lid] for lid in order.legs if lid in self._legs]
            loaded = [g for g in legs if g.state == LegState.LOADED]
            if loaded:
                raise ConflictError(f"order {order_id}: the load is on {loaded[0].machine_id} (leg {loaded[0].id});"
                                    " it can be cancelled once it is set down")
            now = self.clock.now()
            for leg in legs:
                self._release_leg(tx, leg, LegState.CANCELLED, now)
            done = transition_order(order, OrderState.CANCELLED, now, reason)
            self._set_order(tx, done, order.state, detail=reason)
            return done

        return self._enqueue("order.cancel", apply, actor, order_id)

    def reprioritise(self, order_id: str, priority: int, actor: Actor = SYSTEM) -> concurrent.futures.Future[Order]:
        if not 0 <= priority <= 9:
            raise InvalidValue("priority", f"priority {priority} is outside 0..9")

        def apply(tx: Tx) -> Order:
            order = self._orders.get(order_id)
            if order is None:
                stored = self.store.get_order(order_id)
                if stored is None:
                    raise NotFoundError("order", order_id)
                raise ConflictError(f"order {order_id} is {stored.state.value}; its priority is final")
            now = self.clock.now()
            new = dataclasses.replace(order, priority=priority, updated_s=now)
            for lid in order.legs:
                leg = self._legs.get(lid)
                if leg is not None:
                    self._put_leg(dataclasses.replace(leg, priority=priority))
                    tx.put_leg(self._legs[lid])
            self._set_order(tx, new, order.state, stage="reprioritised", detail=f"priority {order.priority} -> {priority}")
            self._dispatch_wanted = True
            return new

        return self._enqueue("order.reprioritise", apply, actor, order_id)

    def machine_action(self, machine_id: str, action: MachineAction, actor: Actor = SYSTEM) -> concurrent.futures.Future[dict[str, Any]]:
        """Pause, resume, e-stop, send to charge or take out of service one machine."""

        def apply(tx: Tx) -> dict[str, Any]:
            machine = self._machines.get(machine_id)
            if machine is None:
                raise NotFoundError("machine", machine_id)
            self._machine_action(tx, machine, action)
            return self.machine_public(self._machines[machine_id])

        return self._enqueue(f"machine.{action.value}", apply, actor, machine_id,
                             urgent=action == MachineAction.ESTOP)

    def estop_all(self, actor: Actor = SYSTEM) -> concurrent.futures.Future[list[str]]:
        def apply(tx: Tx) -> list[str]:
            for machine in list(self._machines.values()):
                self._machine_action(tx, machine, MachineAction.ESTOP)
            return sorted(self._machines)

        return self._enqueue("machine.estop_all", apply, actor, "*", urgent=True)

    def _machine_action(self, tx: Tx, machine: Machine, action: MachineAction) -> None:
        now = self.clock.now()
        mid = machine.id
        cid = f"{action.value}-{self._new_hex(10)}"
        if action == MachineAction.RESUME:
            held = self._held.pop(mid, None)
            if held is None:
                return
            kind = ActionType.RELEASE_EMERGENCY_STOP if held == Mode.ESTOPPED else ActionType.STOP_PAUSE
            self._send(InstantAction(cid, mid, (Action(cid, kind),), now))
            self._dispatch_wanted = True
        elif action == MachineAction.CHARGE:
            self._send_to_charge(tx, machine, now)
            return
        else:
            target = {MachineAction.PAUSE: Mode.PAUSED, MachineAction.ESTOP: Mode.ESTOPPED,
                      MachineAction.OUT_OF_SERVICE: Mode.OUT_OF_SERVICE}[action]
            if self._held.get(mid) == Mode.ESTOPPED and target != Mode.ESTOPPED:
                raise ConflictError(f"machine {mid} is e-stopped; resume it first")
            self._held[mid] = target
            kind = ActionType.EMERGENCY_STOP if target == Mode.ESTOPPED else ActionType.START_PAUSE
            self._send(InstantAction(cid, mid, (Action(cid, kind),), now))
            if target == Mode.ESTOPPED:
                self._raise_alarm(tx, AlarmKind.ESTOP, Severity.CRITICAL, f"{mid} e-stopped by a dispatcher",
                                  machine_id=mid)
            if target == Mode.OUT_OF_SERVICE and machine.leg_id:
                leg = self._legs.get(machine.leg_id)
                if leg is not None and leg.state != LegState.LOADED:
                    self._reopen_leg(tx, leg, now, "machine taken out of service")
        current = self._machines[mid]
        self._set_machine(tx, dataclasses.replace(current, mode=self._mode(mid)), current)

    def _send_to_charge(self, tx: Tx, machine: Machine, now: float) -> None:
        if not isinstance(machine, Vehicle):
            raise ConflictError(f"machine {machine.id} is a crane; cranes do not charge")
        if self.site is None:
            raise ConflictError("the site has no charger")
        from maps.site import StationKind

        chargers = self.site.stations_of(StationKind.CHARGER)
        if not chargers:
            raise ConflictError(f"site {self.site.name!r} has no charger")
        if machine.leg_id:
            leg = self._legs.get(machine.leg_id)
            if leg is not None and leg.state == LegState.LOADED:
                raise ConflictError(f"vehicle {machine.id} carries leg {leg.id}; it can charge after the drop")
            if leg is not None and leg.kind == LegKind.CHARGE:
                return
            if leg is not None:
                self._reopen_leg(tx, leg, now, "vehicle sent to charge")
                machine = self._machines[machine.id]
        here = self.site.node_by_id.get(machine.node or "")

        def dist(station: Any) -> float:
            node = self.site.node_by_id[station.node] if self.site else None
            if node is None or here is None:
                return 0.0
            return (node.x - here.x) ** 2 + (node.y - here.y) ** 2

        charger = min(chargers, key=lambda s: (dist(s), s.id))
        leg = Leg(id=LegId(f"chg-{machine.id}-{self._new_hex(8)}"), order_id=None, kind=LegKind.CHARGE,
                  source=machine.node or charger.id, destination=charger.id, state=LegState.ASSIGNED,
                  machine_id=MachineId(machine.id), created_s=now, updated_s=now)
        self._set_leg(tx, leg, None)
        self._set_machine(tx, dataclasses.replace(machine, leg_id=leg.id), machine)
        if self.traffic is not None:
            self.traffic.assign(leg, machine.id, now)

    def set_zone(self, zone_id: str, closed: bool, actor: Actor = SYSTEM) -> concurrent.futures.Future[dict[str, Any]]:
        def apply(tx: Tx) -> dict[str, Any]:
            if self.site is not None and zone_id not in self.site.zone_by_id:
                raise NotFoundError("zone", zone_id)
            (self._closed.add if closed else self._closed.discard)(zone_id)
            tx.put_zone(zone_id, closed, self.clock.now(), actor.name)
            if self.traffic is not None:
                self.traffic.set_blocked_zones(frozenset(self._closed))
            payload = {"zone_id": zone_id, "closed": closed, "by": actor.name}
            self._event(tx, "zone.state", payload)
            self._dispatch_wanted = True
            return payload

        return self._enqueue("zone.close" if closed else "zone.open", apply, actor, zone_id)

    def ack_alarm(self, alarm_id: str, actor: Actor = SYSTEM) -> concurrent.futures.Future[dict[str, Any]]:
        def apply(tx: Tx) -> dict[str, Any]:
            alarm = self._alarms.get(alarm_id)
            if alarm is None:
                if any(a["id"] == alarm_id for a in self.store.alarms(limit=100000)):
                    raise ConflictError(f"alarm {alarm_id} is already acknowledged")
                raise NotFoundError("alarm", alarm_id)
            alarm = dict(alarm, acknowledged_s=self.clock.now(), acknowledged_by=actor.name)
            self._alarms.pop(alarm_id)
            tx.put_alarm(alarm)
            self._event(tx, "alarm.acknowledged", alarm)
            return alarm

        return self._enqueue("alarm.ack", apply, actor, alarm_id)

    # ------------------------------------------------------------------ machine states
    def on_state(self, state: MachineState) -> None:
        """A machine's report (any thread, never blocks): applied on the command thread."""
        if not self.leader:
            return
        item = _Item("state", lambda tx: self._apply_state(tx, state), None)
        with self._cv:
            self._queue.append(item)
            self._cv.notify()

    def on_measurements(self, batch: Measurements) -> None:
        """A machine's raw positioning readings (any thread, never blocks): fused each tick."""
        if self.leader:
            self.localization.offer(batch)

    def _fuse_poses(self) -> None:
        """Fuse what arrived; fused poses replace reported ones; apply the speed policy."""
        try:
            fused, changes = self.localization.fuse(self.clock.now() if self.settings.work_limited else None)
        except Exception:  # a filter failure must not stop the core; poses stay as reported
            log.exception("pose fusion failed")
            return
        for mid, (x, y, th) in fused.items():
            m = self._machines.get(mid)
            if isinstance(m, Vehicle) and (m.x, m.y, m.heading_rad) != (x, y, th):
                self._set_machine(None, dataclasses.replace(m, x=x, y=y, heading_rad=th), m)
                self._pose(self._machines[mid])
        if changes:
            self._apply_batch([_Item("localization", lambda tx: self._pose_quality_changed(tx, changes), None)])

    def _pose_quality_changed(self, tx: Tx, changes: list[tuple[str, str | None, str]]) -> None:
        now = self.clock.now()
        for mid, before, after in changes:
            m = self._machines.get(mid)
            if m is None:
                continue
            cid = f"pose-{after}-{self._new_hex(10)}"
            if after == "lost" and mid not in self._pose_stopped:
                self._pose_stopped.add(mid)
                self._send(InstantAction(cid, mid, (Action(cid, ActionType.START_PAUSE),), now))
                if self.traffic is not None:
                    self.traffic.machine_stopped(mid, True)
                view = self.localization.view(mid) or {}
                self._raise_alarm(tx, AlarmKind.LOCALIZATION_DEGRADED, Severity.CRITICAL,
                                  f"{mid}: pose lost (sigma {view.get('pose_sigma_m')} m); stopped until "
                                  f"its positioning recovers", machine_id=mid)
            elif after != "lost" and mid in self._pose_stopped:
                self._pose_stopped.discard(mid)
                if mid not in self._held:  # a dispatcher's pause stays
                    self._send(InstantAction(cid, mid, (Action(cid, ActionType.STOP_PAUSE),), now))
                if self.traffic is not None:
                    self.traffic.machine_stopped(mid, False)
                self._dispatch_wanted = True
            self._event(tx, "machine.localization", {"machine_id": mid, "before": before, "quality": after,
                                                     **(self.localization.view(mid) or {})})
            current = self._machines[mid]
            self._set_machine(tx, dataclasses.replace(current, mode=self._mode(mid)), current)

    def _apply_state(self, tx: Tx, st: MachineState) -> None:
        now = self.clock.now()
        machine = self._machines.get(st.machine_id)
        if machine is None:
            if st.bridge_m is not None:
                machine = Crane(id=CraneId(st.machine_id), bay="")
            else:
                machine = Vehicle(id=VehicleId(st.machine_id))
            self._raise_alarm(tx, AlarmKind.UNKNOWN_MACHINE, Severity.WARNING,
                              f"machine {st.machine_id} reported without being configured; registered with defaults",
                              machine_id=st.machine_id)
            self._set_machine(tx, machine, None)
        before = machine
        stopping = stopping_errors(st.errors)
        if stopping:
            self._reported[machine.id] = Mode.FAULT
        elif st.mode == "manual":
            self._reported[machine.id] = Mode.MANUAL
        else:
            self._reported[machine.id] = Mode.AUTO
        fields: dict[str, Any] = {"last_state_s": now, "link_ok": True, "mode": self._mode(machine.id),
                                  "load_id": st.load_id}
        if isinstance(machine, Vehicle):
            fields.update(node=st.last_node_id or machine.node, charging=st.charging)
            if self.localization.tracked(machine.id):
                pass  # the fused pose stands (updated every tick by _fuse_poses)
            elif st.x is not None and st.y is not None:
                fields.update(x=st.x, y=st.y)
                if st.theta is not None:
                    fields["heading_rad"] = st.theta
            if st.battery is not None:
                fields["battery"] = st.battery
            if st.received_s is not None:
                fields["link_latency_ms"] = max(0.0, (st.received_s - st.stamp_s) * 1000.0)
        else:
            for axis in ("bridge_m", "trolley_m", "hoist_m"):
                if getattr(st, axis) is not None:
                    fields[axis] = getattr(st, axis)
        machine = dataclasses.replace(machine, **fields)
        significant = any(getattr(before, f) != getattr(machine, f) for f in ("mode", "load_id", "link_ok"))
        if isinstance(machine, Vehicle) and isinstance(before, Vehicle):
            significant = significant or before.charging != machine.charging
        self._set_machine(tx if significant else None, machine, before)
        if stopping and before.mode != Mode.FAULT and machine.mode == Mode.FAULT:
            self._raise_alarm(tx, AlarmKind.FAULT, Severity.WARNING, f"{machine.id} reports {', '.join(st.errors)}",
                              machine_id=machine.id)
        refused = sorted(set(st.errors) - set(stopping) - self._order_errors.get(machine.id, set()))
        self._order_errors[machine.id] = set(st.errors) - set(stopping)
        if refused:  # the machine drives on with its previous order; the dispatcher should know
            self._raise_alarm(tx, AlarmKind.FAULT, Severity.WARNING, f"{machine.id} refused an order: {', '.join(refused)}",
                              machine_id=machine.id)
        if before.mode == Mode.OFFLINE and machine.mode != Mode.OFFLINE:
            self._dispatch_wanted = True
        self._pose(machine)
        if self.traffic is not None:
            for progress in self.traffic.on_state(st):
                self._apply_progress(tx, progress)

    def _pose(self, m: Machine) -> None:
        self._pose_version += 1
        pose: dict[str, Any] = {"id": m.id, "v": self._pose_version, "mode": m.mode.value}
        if isinstance(m, Vehicle):
            pose.update(x=round(m.x, 3), y=round(m.y, 3), th=round(m.heading_rad, 3), node=m.node,
                        battery=round(m.battery, 3), load=m.load_id)
            view = self.localization.view(m.id)
            if view is not None:
                pose.update(sigma_m=view["pose_sigma_m"], quality=view["pose_quality"])
        else:
            pose.update(bridge_m=round(m.bridge_m, 3), trolley_m=round(m.trolley_m, 3),
                        hoist_m=round(m.hoist_m, 3), load=m.load_id)
        self._poses[m.id] = pose

    def _apply_progress(self, tx: Tx, p: LegProgress) -> None:
        leg = self._legs.get(p.leg_id)
        if leg is None or leg.machine_id != p.machine_id:
            return
        now = self.clock.now()
        order = self._orders.get(leg.order_id) if leg.order_id else None
        stage = p.stage.value
        if self.stock is not None and p.stage in (Stage.PICKED, Stage.DROPPED) and leg.state != LegState.DONE:
            try:  # inventory and tally (fleet/core/stock.py): a failure there never stops the road
                self.stock.on_progress(self, tx, leg, order, p)
            except Exception:
                log.exception("stock keeping at %s of leg %s failed", stage, leg.id)
            leg = self._legs.get(p.leg_id, leg)  # the keeper may have named the load in the leg
        if p.stage == Stage.STARTED and leg.state == LegState.ASSIGNED:
            self._set_leg(tx, transition_leg(leg, LegState.TO_PICKUP, now), leg.state)
        elif p.stage in (Stage.AT_PICKUP, Stage.AT_DROP) and order is not None:
            tx.add_timeline(order.id, now, order.state.value, stage, leg.id, leg.machine_id, p.node)
        elif p.stage == Stage.PICKED and leg.state in (LegState.ASSIGNED, LegState.TO_PICKUP):
            new = transition_leg(leg, LegState.LOADED, now)
            self._set_leg(tx, new, leg.state)
            if order is not None and order.state in (OrderState.ASSIGNED, OrderState.HANDED_OFF):
                self._set_order(tx, transition_order(order, OrderState.IN_PROGRESS, now), order.state,
                                stage=stage, leg=new)
            if order is not None and leg.kind == LegKind.CRANE:
                # the crane holds the coil: the AGV that takes it over may be dispatched now
                # (traffic lets it into the handoff only when this crane is next to set down)
                for lid in order.legs:
                    g = self._legs.get(lid)
                    if g is not None and g.after == leg.id and g.state == LegState.PENDING:
                        self._set_leg(tx, transition_leg(g, LegState.OPEN, now), g.state)
                        self._dispatch_wanted = True
        elif (p.stage == Stage.DROPPED and leg.state in (LegState.LOADED, LegState.ASSIGNED, LegState.TO_PICKUP)) or (
                p.stage == Stage.CHARGING and leg.kind == LegKind.CHARGE):
            if leg.state != LegState.LOADED:
                # a lost pick report, or a charge/park leg (no load): the table goes via LOADED
                leg = transition_leg(leg, LegState.LOADED, now)
            done = transition_leg(leg, LegState.DONE, now)
            self._set_leg(tx, done, leg.state)
            self._free_machine(tx, leg.machine_id)
            if order is not None:
                # the next leg may already be open or under way (dispatch releases it early)
                nxt = [self._legs[lid] for lid in order.legs
                       if lid in self._legs and self._legs[lid].after == leg.id and not self._legs[lid].terminal]
                if order.state in (OrderState.ASSIGNED, OrderState.HANDED_OFF):
                    order = transition_order(order, OrderState.IN_PROGRESS, now)  # a lost pick report
                if nxt:
                    for g in nxt:
                        if g.state == LegState.PENDING:
                            self._set_leg(tx, transition_leg(g, LegState.OPEN, now), g.state)
                    self._set_order(tx, transition_order(order, OrderState.HANDED_OFF, now), order.state,
                                    stage=stage, leg=done, detail=f"at handoff {leg.destination}")
                else:
                    self._set_order(tx, transition_order(order, OrderState.DONE, now), order.state,
                                    stage=stage, leg=done)
            self._dispatch_wanted = True
        elif p.stage == Stage.FAILED:
            self._leg_failed(tx, leg, now, p.detail or "machine cannot finish the leg")

    def _free_machine(self, tx: Tx, machine_id: str | None) -> None:
        if not machine_id:
            return
        m = self._machines.get(machine_id)
        if m is not None and m.leg_id is not None:
            self._set_machine(tx, dataclasses.replace(m, leg_id=None), m)

    def _reopen_leg(self, tx: Tx, leg: Leg, now: float, why: str) -> None:
        """Take a leg back from its machine before pickup so another machine can do it."""
        if self.traffic is not None:
            self.traffic.withdraw(leg.id, now)
        machine_id = leg.machine_id
        if leg.kind in (LegKind.CHARGE, LegKind.PARK):
            self._set_leg(tx, transition_leg(leg, LegState.CANCELLED, now), leg.state)
            self._free_machine(tx, machine_id)
            return
        attempts = int(leg.extra.get("attempts", "0")) + 1
        reopened = transition_leg(leg, LegState.OPEN, now)
        reopened = dataclasses.replace(reopened, extra={**leg.extra, "attempts": str(attempts)})
        self._set_leg(tx, reopened, leg.state)
        self._free_machine(tx, machine_id)
        order = self._orders.get(leg.order_id) if leg.order_id else None
        if order is not None and order.state == OrderState.ASSIGNED:
            self._set_order(tx, transition_order(order, OrderState.QUEUED, now), order.state, stage="reopened",
                            leg=leg, detail=why)
        self._dispatch_wanted = True

    def _leg_failed(self, tx: Tx, leg: Leg, now: float, why: str) -> None:
        """Re-dispatch rules: before pickup, re-open (up to MAX_ATTEMPTS); loaded, fail and alarm."""
        attempts = int(leg.extra.get("attempts", "0"))
        if leg.state != LegState.LOADED and attempts + 1 < MAX_ATTEMPTS:
            self._reopen_leg(tx, leg, now, why)
            return
        if self.traffic is not None:
            self.traffic.withdraw(leg.id, now)
        failed = transition_leg(leg, LegState.FAILED, now)
        self._set_leg(tx, failed, leg.state)
        self._free_machine(tx, leg.machine_id)
        order = self._orders.get(leg.order_id) if leg.order_id else None
        if leg.state == LegState.LOADED:
            self._raise_alarm(tx, AlarmKind.LOAD_STRANDED, Severity.CRITICAL,
                              f"leg {leg.id} failed with the load on {leg.machine_id}: {why}",
                              machine_id=leg.machine_id, order_id=leg.order_id)
        if order is not None:
            for lid in order.legs:
                other = self._legs.get(lid)
                if other is not None and other.id != leg.id and not other.terminal:
                    self._release_leg(tx, other, LegState.CANCELLED, now)
            self._set_order(tx, transition_order(order, OrderState.FAILED, now, why), order.state,
                            stage="failed", leg=failed, detail=why)
            self._raise_alarm(tx, AlarmKind.ORDER_FAILED, Severity.WARNING, f"order {order.id} failed: {why}",
                              machine_id=leg.machine_id, order_id=order.id)

    def _release_leg(self, tx: Tx, leg: Leg, target: LegState, now: float) -> None:
        if leg.machine_id and self.traffic is not None and leg.state in (LegState.ASSIGNED, LegState.TO_PICKUP):
            self.traffic.withdraw(leg.id, now)
        self._set_leg(tx, transition_leg(leg, target, now), leg.state)
        self._free_machine(tx, leg.machine_id)

    def _assignment_item(self, answer: list[Assignment] | Decisions) -> _Item:
        return _Item("dispatch", lambda tx: self._apply_assignments(tx, answer), concurrent.futures.Future())

    def _apply_decisions(self, tx: Tx, d: Decisions, now: float) -> None:
        for note in d.notes:
            log.info("dispatch: %s", note)
        for leg_id in d.reopened:
            leg = self._legs.get(leg_id)
            machine = self._machines.get(leg.machine_id) if leg and leg.machine_id else None
            if leg is None or leg.state not in (LegState.ASSIGNED, LegState.TO_PICKUP):
                continue
            if machine is None or not (machine.mode == Mode.AUTO and machine.link_ok):
                self._reopen_leg(tx, leg, now, f"machine {leg.machine_id} cannot go on")
        for leg_id in d.released:
            leg = self._legs.get(leg_id)
            if leg is not None and leg.state == LegState.PENDING:
                self._set_leg(tx, transition_leg(leg, LegState.OPEN, now), leg.state)
        for charge in d.charges:
            vid = charge.extra.get("vehicle") or charge.machine_id
            machine = self._machines.get(vid or "")
            if machine is None or not machine.available or not isinstance(machine, Vehicle):
                continue
            leg = dataclasses.replace(charge, state=LegState.ASSIGNED, machine_id=MachineId(machine.id),
                                      updated_s=now)
            self._set_leg(tx, leg, None)
            self._set_machine(tx, dataclasses.replace(machine, leg_id=leg.id), machine)
            if self.traffic is not None:
                self.traffic.assign(leg, machine.id, now)

    def _apply_assignments(self, tx: Tx, answer: list[Assignment] | Decisions) -> int:
        now = self.clock.now()
        applied = 0
        if isinstance(answer, Decisions):
            self._apply_decisions(tx, answer, now)
            assignments: Sequence[Assignment] = answer.assignments
        else:
            assignments = answer
        for a in assignments:
            leg = self._legs.get(a.leg_id)
            machine = self._machines.get(a.machine_id)
            if leg is None or machine is None or leg.state != LegState.OPEN or not machine.available:
                continue  # changed since the snapshot; the next round sees it
            new = transition_leg(leg, LegState.ASSIGNED, now, MachineId(machine.id))
            self._set_leg(tx, new, leg.state)
            self._set_machine(tx, dataclasses.replace(machine, leg_id=new.id), machine)
            order = self._orders.get(leg.order_id) if leg.order_id else None
            if order is not None and order.state in (OrderState.QUEUED, OrderState.HANDED_OFF):
                self._set_order(tx, transition_order(order, OrderState.ASSIGNED, now), order.state,
                                stage="assigned", leg=new)
            if self.traffic is not None:
                self.traffic.assign(new, machine.id, now)
            applied += 1
        return applied

    # ------------------------------------------------------------------ reads (any thread)
    @property
    def serving_from_store(self) -> bool:
        """A follower (or a core not started) answers reads from the shared store."""
        return not (self.leader and self.ready)

    def _stored_machines(self) -> list[Machine]:
        rows = self.store.machines()
        self._stored_held = {m.id: Mode(h) for m, h in rows if h}
        return [m for m, _ in rows]

    def machines(self) -> list[Machine]:
        if self.serving_from_store:
            return self._stored_machines()
        return list(self._machines.values())

    def machines_configured(self) -> list[Machine]:
        """The machines given at construction (and the site's cranes), before any state."""
        return list(self._configured.values())

    def machines_by_id(self) -> dict[str, Machine]:
        if self.serving_from_store:
            return {m.id: m for m in self._stored_machines()}
        return dict(self._machines)

    def machine(self, machine_id: str) -> Machine:
        m = self._machines.get(machine_id)
        if m is None:
            raise NotFoundError("machine", machine_id)
        return m

    def closed_zones(self) -> frozenset[str]:
        if self.serving_from_store:
            start = {z.id for z in self.site.zones if z.closed} if self.site else set()
            stored = self.store.zones()
            return frozenset({z for z in start if stored.get(z, True)} | {z for z, c in stored.items() if c})
        return frozenset(self._closed)

    def planned_path(self, machine_id: str) -> list[str]:
        """The path traffic planned for this machine at the last tick (empty when idle)."""
        return list(self._paths.get(machine_id, ()))

    def poses(self) -> dict[str, dict[str, Any]]:
        return dict(self._poses)

    def active_orders(self) -> list[Order]:
        if self.serving_from_store:
            return self.store.active_orders()
        return list(self._orders.values())

    def active_legs(self) -> list[Leg]:
        return list(self._legs.values())

    def queue_depth(self) -> int:
        return len(self._queue)

    def utilisation(self, window_s: float = 3600.0) -> float:
        now = self.clock.now()
        samples = [u for t, u in list(self._busy_samples) if now - t <= window_s]
        return sum(samples) / len(samples) if samples else 0.0
