"""`fleet gateway --adapter NAME --config FILE`: run one adapter gateway process.

The gateway connects to the core's vehicle bus (`bus:` in the config, e.g.
tcp://core-host:5560) and to its machines (VDA 5050 over MQTT, ROS 2, or the
simulator of a scenario, or the loopback machines used for tests). It runs until SIGINT/SIGTERM.
Examples: adapters/examples/*.yaml; guide: docs/adapters.md.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

ADAPTERS = ("vda5050", "ros2", "sim", "loopback")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("gateway", help="run an adapter gateway (VDA 5050, ROS 2, simulator, loopback)")
    p.add_argument("--adapter", choices=ADAPTERS, required=True)
    p.add_argument("--config", type=Path, required=True, help="YAML file (adapters/examples/)")
    p.add_argument("--status-every", type=float, default=10.0, metavar="S",
                   help="print a status line every S seconds (0: never)")
    p.add_argument("--log-level", default="WARNING")
    p.set_defaults(func=run)


def build(adapter: str, data: dict[str, Any]) -> Any:
    """The gateway object for `adapter` from its config mapping (raises ValueError)."""
    if adapter == "vda5050":
        from adapters.vda5050 import Vda5050Config, Vda5050Gateway

        return Vda5050Gateway(Vda5050Config.from_dict(data))
    if adapter == "ros2":
        from adapters.ros2 import Ros2Config, Ros2Gateway

        return Ros2Gateway(Ros2Config.from_dict(data))
    if adapter == "sim":
        from sim.gateway import SimGateway
        from sim.scenario import load_scenario, resolve_scenario

        try:
            scenario = load_scenario(resolve_scenario(str(data["scenario"])))
            return SimGateway.from_scenario(scenario, str(data["bus"]),
                                            gateway_id=str(data.get("gateway_id", "gw-sim")),
                                            speed=float(data.get("speed", 1.0)))
        except KeyError as exc:
            raise ValueError(f"sim gateway config: missing {exc}") from None
    if adapter == "loopback":
        from adapters.bus.loopback import LoopbackGateway

        return LoopbackGateway.from_config(data)
    raise ValueError(f"unknown adapter {adapter!r}")


def run(args: argparse.Namespace) -> int:
    import yaml

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    try:
        data = yaml.safe_load(args.config.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("the config must be a mapping")
        gateway = build(args.adapter, data)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"fleet gateway: {args.config}: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    gateway.start()
    print(f"gateway {gateway.gateway_id} ({args.adapter}): {len(gateway.machine_ids)} machines "
          f"on {gateway.endpoint}", flush=True)
    last = time.monotonic()
    while not stop.wait(0.5):
        if args.status_every and time.monotonic() - last >= args.status_every:
            last = time.monotonic()
            c = gateway.counters
            print(f"gateway {gateway.gateway_id}: hub {'up' if gateway.hub_alive else 'DOWN'}, "
                  f"applied {c.applied}, duplicates {c.duplicates}, refused {c.refused}, "
                  f"malformed {c.malformed + c.oversized}", flush=True)
    gateway.stop()
    return 0
