"""A real mosquitto for the tests: the demo's private broker (`fleet.plant.Mosquitto`: a free
loopback port, a generated config), plus a restart for the broker-fault tests."""

from __future__ import annotations

import time

from fleet.plant import Mosquitto, find_mosquitto


def mosquitto_available() -> bool:
    return find_mosquitto() is not None


class Broker(Mosquitto):
    def restart(self, down_s: float = 0.5) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()
