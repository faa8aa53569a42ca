"""Durable state: orders, legs, timeline, machines, zones, alarms, events, users, audit.

`Store(url)` opens SQLite (`sqlite:///PATH`, WAL, the embedded default) or PostgreSQL
(`postgresql://...`, psycopg 3) with the same schema, applying versioned SQL migrations.
"""

from fleet.store.store import Store, StoreError, Tx

__all__ = ["Store", "StoreError", "Tx"]
