"""The simulated WMS knows its stock: the scenario's random orders made to fit the inventory.

A scenario's order streams pick random slots ("a coil from bay BAY1 to a dock",
"a coil from the mill into the bay"). A real WMS sends only orders that make sense
for what lies where, so before the demo's WMS posts an order `StockedOrders.shape`
rewrites it against the inventory:
- out of storage (the source is a slot or rack location): a stored load nobody is
  moving and nothing rests on; the order names it (`load_id`, its weight and type);
- into storage (the destination is a slot or rack location): the putaway's choice
  (`InventoryService.plan_putaway`) for an incoming load of the order's weight.
Slots chosen are kept from other orders for `hold_s` (about an order's lead time).
An order that cannot be fitted is posted as it was (the service may refuse it).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from fleet.errors import FleetError
from fleet.inventory.layout import UPPER

INCOMING_COIL = {"width_m": 1.4, "diameter_m": 1.6}


class StockedOrders:
    def __init__(self, inventory: Any, *, hold_s: float = 1800.0, clock: Any = time.monotonic) -> None:
        self.inventory = inventory
        self.hold_s = hold_s
        self.clock = clock
        self._held: dict[str, float] = {}  # slot -> until (clock)
        self._lock = threading.Lock()
        self._n = 0

    def shape(self, order: dict[str, Any]) -> dict[str, Any]:
        """The order with its source load and its destination slot taken from the stock."""
        inv = self.inventory
        lay = inv.layout
        out = dict(order)
        with self._lock:
            now = self.clock()
            self._held = {s: t for s, t in self._held.items() if t > now}
            try:
                if lay.positions_of_slot(str(order.get("source"))):
                    picked = self._stored_load(order)
                    if picked is not None:
                        slot, load = picked
                        out.update(source=slot, load_id=load.id, weight_kg=load.weight_kg, load_type=load.type)
                        self._held[slot] = now + self.hold_s
                if lay.positions_of_slot(str(order.get("destination"))):
                    slot = self._free_slot(out)
                    if slot is not None:
                        out["destination"] = slot
                        self._held[slot] = now + self.hold_s
            except FleetError:
                return dict(order)
        return out

    def _stored_load(self, order: dict[str, Any]) -> tuple[str, Any] | None:
        """A load at a place the order's source selects (its bay, or any rack), free to lift."""
        inv = self.inventory
        lay, yard = inv.layout, inv.yard
        src = str(order["source"])
        bay = lay.bay[lay.positions_of_slot(src)[0]]
        best = None
        for p, load in sorted(yard.at.items(), key=lambda kv: -int(lay.tier[kv[0]])):
            slot = lay.slot_ids[p]
            if slot in self._held or lay.bay[p] != bay or not lay.reachable[p]:
                continue
            if any(int(q) >= 0 and int(q) in yard.at for q in lay.above[p]):
                continue  # buried: a WMS asks for it later, after a reshuffle
            best = (slot, load)
            if int(lay.kind[p]) == UPPER or slot == src:
                break
        return best

    def _free_slot(self, order: dict[str, Any]) -> str | None:
        inv = self.inventory
        lay = inv.layout
        dst = str(order["destination"])
        bay = lay.bay[lay.positions_of_slot(dst)[0]]
        self._n += 1
        coil = str(order.get("load_type", "coil")) == "coil"
        probe = {"id": f"incoming-{self._n}", "type": str(order.get("load_type", "coil")),
                 "weight_kg": float(order.get("weight_kg") or 0.0), **(INCOMING_COIL if coil else {})}
        plan = inv.plan_putaway([probe])
        pos = plan["placements"].get(probe["id"])
        if pos is None:
            return None
        slot = lay.slot_ids[lay.index(pos)]
        if slot in self._held or lay.bay[lay.index(pos)] != bay:
            free = [lay.slot_ids[p] for p in range(lay.n)
                    if lay.bay[p] == bay and p not in inv.yard.at and int(lay.kind[p]) != UPPER
                    and lay.reachable[p] and lay.slot_ids[p] not in self._held]
            return free[0] if free else None
        return slot
