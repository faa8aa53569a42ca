"""Key figures of the shift: throughput, waiting orders, lead times, utilisation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fleet.domain import Crane, OrderState

if TYPE_CHECKING:
    from fleet.core.core import FleetCore


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    i = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[i]


HOURLY_HOURS = 12  # the hourly series covers this many hours, the current one last


def hourly_done(core: FleetCore, now: float, hours: int = HOURLY_HOURS) -> list[dict[str, Any]]:
    """Done orders per clock hour: [{"hour_s": start of the hour, "done": n}, ...], oldest first."""
    first = (int(now // 3600) - hours + 1) * 3600.0
    counts = dict.fromkeys(range(hours), 0)
    rows = core.store.query("SELECT updated_s FROM orders WHERE state = 'done' AND updated_s >= ? AND updated_s < ?",
                            (first, now + 1e-6))  # times only: no order bodies parsed
    for r in rows:
        k = int((float(r["updated_s"]) - first) // 3600)
        if k in counts:
            counts[k] += 1
    return [{"hour_s": first + 3600.0 * k, "done": n} for k, n in counts.items()]


def kpis(core: FleetCore, window_s: float = 3600.0) -> dict[str, Any]:
    """Figures over the last `window_s` seconds of the core's clock (reads only)."""
    now = core.clock.now()
    done = core.store.done_between(now - window_s, now + 1e-6)
    lead = [o.updated_s - o.created_s for o in done]
    active = core.active_orders()
    waiting = [o for o in active if o.state in (OrderState.CREATED, OrderState.QUEUED, OrderState.HANDED_OFF)]
    machines = core.machines()
    agvs = [m for m in machines if not isinstance(m, Crane)]
    cranes = [m for m in machines if isinstance(m, Crane)]
    return {
        "at_s": now,
        "window_s": window_s,
        "throughput_per_h": len(done) * 3600.0 / window_s,
        "done_in_window": len(done),
        "waiting": len(waiting),
        "active": len(active),
        "oldest_waiting_s": max((now - o.created_s for o in waiting), default=0.0),
        "lead_time_mean_s": sum(lead) / len(lead) if lead else None,
        "lead_time_p50_s": _quantile(lead, 0.5),
        "lead_time_p95_s": _quantile(lead, 0.95),
        "utilisation_now": {
            "agv": sum(1 for m in agvs if m.leg_id) / len(agvs) if agvs else 0.0,
            "crane": sum(1 for m in cranes if m.leg_id) / len(cranes) if cranes else 0.0,
        },
        "utilisation_window": core.utilisation(window_s),
        "orders_by_state": core.store.order_counts(),
        "throughput_hourly": hourly_done(core, now),
    }
