"""The VDA 5050 gateway: the vehicle bus on one side, MQTT vehicles on the other.

`fleet gateway --adapter vda5050 --config FILE` runs one (config: adapters/examples/
vda5050.yaml). Movement commands become `order`s (stitched updates), instant actions
`instantActions`; crane commands are refused (cranes are not VDA 5050 vehicles).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import zmq

from adapters.bus import CommandRefused, Gateway
from adapters.vda5050.mapping import INTERFACE_NAME, VehicleRef
from adapters.vda5050.master import MasterControl
from adapters.vda5050.transport import MqttLink
from fleet.domain.commands import Command, InstantAction, MovementCommand


@dataclass(frozen=True)
class Vda5050Config:
    gateway_id: str
    bus: str
    vehicles: tuple[VehicleRef, ...]
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    mqtt_keepalive_s: int = 5
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    republish_s: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vda5050Config:
        """From the YAML config (see adapters/examples/vda5050.yaml); clear errors."""
        try:
            mqtt = data.get("mqtt", {}) or {}
            iface = data.get("interface_name", INTERFACE_NAME)
            map_id = data.get("map_id", "site")
            vehicles = tuple(
                VehicleRef(
                    machine_id=str(v["machine_id"]),
                    manufacturer=str(v["manufacturer"]),
                    serial_number=str(v["serial_number"]),
                    version=str(v.get("version", "2.0.0")),
                    map_id=str(v.get("map_id", map_id)),
                    interface_name=str(v.get("interface_name", iface)),
                )
                for v in data["vehicles"]
            )
            return cls(
                gateway_id=str(data.get("gateway_id", "gw-vda5050")),
                bus=str(data["bus"]),
                vehicles=vehicles,
                mqtt_host=str(mqtt.get("host", "127.0.0.1")),
                mqtt_port=int(mqtt.get("port", 1883)),
                mqtt_keepalive_s=int(mqtt.get("keepalive_s", 5)),
                mqtt_username=mqtt.get("username"),
                mqtt_password=mqtt.get("password"),
                republish_s=float(data.get("republish_s", 1.0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"VDA 5050 gateway config: missing or bad {exc}") from None


class Vda5050Gateway(Gateway):
    def __init__(self, config: Vda5050Config, *, context: zmq.Context | None = None,
                 heartbeat_s: float = 0.5, wire_log: Any = None) -> None:
        super().__init__(config.gateway_id, [v.machine_id for v in config.vehicles], config.bus,
                         context=context, heartbeat_s=heartbeat_s)
        self.config = config
        self.mqtt = MqttLink(f"fleet5g-{config.gateway_id}", config.mqtt_host, config.mqtt_port,
                             keepalive_s=config.mqtt_keepalive_s, username=config.mqtt_username,
                             password=config.mqtt_password)
        self.master = MasterControl(list(config.vehicles), self.mqtt, on_state=self.publish_state,
                                    republish_s=config.republish_s, wire_log=wire_log)
        self.mqtt._on_message_cb = self.master.handle
        self._ticker_stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def on_start(self) -> None:
        self.mqtt.start()
        self._ticker_stop.clear()
        self._ticker = threading.Thread(target=self._tick, name=f"vda-{self.gateway_id}",
                                        daemon=True)
        self._ticker.start()

    def on_stop(self) -> None:
        self._ticker_stop.set()
        if self._ticker:
            self._ticker.join(2)
        self.mqtt.stop()

    def _tick(self) -> None:
        while not self._ticker_stop.wait(0.1):
            self.master.tick()

    def on_command(self, cmd: Command) -> None:
        try:
            if isinstance(cmd, MovementCommand):
                self.master.send_order(cmd)
            elif isinstance(cmd, InstantAction):
                self.master.send_instant(cmd)
            else:
                raise CommandRefused(f"{cmd.machine_id}: crane commands do not go over VDA 5050")
        except ValueError as exc:
            raise CommandRefused(str(exc)) from None
