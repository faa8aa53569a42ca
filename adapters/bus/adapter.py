"""`BusVehicleAdapter`: the core's per-machine handle on the vehicle bus."""

from __future__ import annotations

import time

from adapters.bus.hub import Ack, BusHub
from adapters.contract import BaseVehicleAdapter
from adapters.link import bound_base
from fleet.domain.commands import Command, MachineState, MovementCommand


class BusVehicleAdapter(BaseVehicleAdapter):
    """One machine behind a `BusHub`; new steps are refused while its link is lost, and
    (with `bound=True`) a movement's base is cut to the link rules' reach from the node
    the machine last reported (adapters/link.py)."""

    def __init__(self, machine_id: str, hub: BusHub, *, bound: bool = True) -> None:
        super().__init__(machine_id)
        self.hub = hub
        self.bound = bound

    def _transmit(self, cmd: Command) -> None:
        if self.bound and isinstance(cmd, MovementCommand):
            latest = self.latest
            here = latest.last_node_sequence_id if latest and latest.order_id == cmd.order_id \
                else None
            cmd = bound_base(cmd, self.hub.links.rules, here)
        self.hub.send(cmd, require_link=True)

    def _link_ok(self) -> bool:
        return self.hub.links.admits_new_steps(self.machine_id, time.time())


class BusAdapterFactory:
    """Hands out `BusVehicleAdapter`s over one hub and routes its states and acks to them."""

    def __init__(self, hub: BusHub, *, bound: bool = True) -> None:
        self.hub = hub
        self.bound = bound
        self._adapters: dict[str, BusVehicleAdapter] = {}
        hub.subscribe(on_state=self._on_state, on_ack=self._on_ack)

    def supports(self, machine_id: str) -> bool:
        return True  # any machine a gateway may announce

    def create(self, machine_id: str) -> BusVehicleAdapter:
        adapter = self._adapters.get(machine_id)
        if adapter is None:
            adapter = self._adapters[machine_id] = BusVehicleAdapter(machine_id, self.hub,
                                                                          bound=self.bound)
        return adapter

    def _on_state(self, state: MachineState) -> None:
        adapter = self._adapters.get(state.machine_id)
        if adapter is not None:
            adapter._deliver(state)

    def _on_ack(self, ack: Ack) -> None:
        adapter = self._adapters.get(ack.machine_id)
        if adapter is not None:
            adapter._settled(ack.command_id)
