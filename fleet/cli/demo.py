"""`fleet demo`: the product running on one machine (service + simulator + web UI)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the service with the simulator and the web UI")
    parser.add_argument("--site", default="coil_yard", help="bundled site (coil_yard, warehouse, port_yard)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    parser.add_argument("--data-dir", type=Path, default=Path("var/demo"))
    parser.add_argument("--transport", choices=["inproc", "vda5050", "ros2", "tcp"], default="inproc",
                        help="how the machines are reached: inproc (the simulator in this process), tcp (the "
                             "simulator as its own gateway process on tcp://), vda5050 (AGVs as VDA 5050 vehicles "
                             "over a mosquitto the demo starts), ros2 (AGVs as ROS 2 robots on DDS)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--orders-per-hour", type=float, default=None, help="WMS order rate (default 6 per AGV)")
    parser.add_argument("--fresh", action="store_true", help="start from an empty database")
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from fleet.demo import DemoOptions, run_demo

    return run_demo(DemoOptions(site=args.site, port=args.port, host=args.host, data_dir=args.data_dir,
                                speed=args.speed, transport=args.transport, duration_s=args.duration,
                                quiet=args.quiet, fresh=args.fresh,
                                orders_per_hour=args.orders_per_hour))
