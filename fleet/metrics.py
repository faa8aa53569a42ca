"""Prometheus instruments of one service instance (own registry, so tests can make many)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from fleet.core import FleetCore

_FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class FleetMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.order_transitions = Counter("fleet_order_transitions_total", "Order state changes, by new state",
                                         ["state"], registry=r)
        self.orders = Gauge("fleet_orders", "Orders by state (active from memory, finished from the store)",
                            ["state"], registry=r)
        self.dispatch_seconds = Histogram("fleet_dispatch_round_seconds", "Time of one dispatch round",
                                          buckets=_FAST, registry=r)
        self.tick_seconds = Histogram("fleet_traffic_tick_seconds", "Time of one traffic (planning) tick",
                                      buckets=_FAST, registry=r)
        self.batch_seconds = Histogram("fleet_command_batch_seconds", "Apply and commit one command batch",
                                       buckets=_FAST, registry=r)
        self.batch_size = Histogram("fleet_command_batch_size", "Commands per committed batch",
                                    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500), registry=r)
        self.http_seconds = Histogram("fleet_http_request_seconds", "HTTP request time", ["method", "route", "status"],
                                      buckets=_FAST, registry=r)
        self.link_latency = Gauge("fleet_machine_link_latency_ms", "Last state's link latency", ["machine"], registry=r)
        self.link_ok = Gauge("fleet_machine_link_ok", "1 while the machine reports in time", ["machine"], registry=r)
        self.machines = Gauge("fleet_machines", "Machines by mode", ["mode"], registry=r)
        self.queue_depth = Gauge("fleet_command_queue_depth", "Commands waiting for the core thread", registry=r)
        self.sse_clients = Gauge("fleet_event_stream_clients", "Connected SSE/WebSocket clients", registry=r)
        self.webhook_deliveries = Counter("fleet_webhook_deliveries_total", "Webhook POSTs by outcome",
                                          ["outcome"], registry=r)
        self.rate_limited = Counter("fleet_rate_limited_total", "Requests refused by the rate limit", registry=r)
        self.leader = Gauge("fleet_leader", "1 on the instance that dispatches and plans", registry=r)

    def render(self, core: FleetCore | None = None) -> bytes:
        if core is not None:
            self._sample(core)
        return generate_latest(self.registry)

    def _sample(self, core: Any) -> None:
        from fleet.domain import Vehicle

        counts = core.store.order_counts()
        for state in ("created", "queued", "assigned", "in_progress", "handed_off", "done", "failed", "cancelled"):
            self.orders.labels(state).set(counts.get(state, 0))
        modes: dict[str, int] = {}
        for m in core.machines():
            modes[m.mode.value] = modes.get(m.mode.value, 0) + 1
            self.link_ok.labels(m.id).set(1 if m.link_ok else 0)
            if isinstance(m, Vehicle) and m.link_latency_ms is not None:
                self.link_latency.labels(m.id).set(m.link_latency_ms)
        for mode in ("auto", "manual", "fault", "estopped", "offline", "paused", "out_of_service"):
            self.machines.labels(mode).set(modes.get(mode, 0))
        self.queue_depth.set(core.queue_depth())
        self.leader.set(1 if core.leader else 0)
