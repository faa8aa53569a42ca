"""Events: the in-process bus, SSE/WebSocket streams, webhooks and the live pose channel."""

from fleet.events.bus import Event, EventBus, Subscription

__all__ = ["Event", "EventBus", "Subscription"]
