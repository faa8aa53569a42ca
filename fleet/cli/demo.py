"""`fleet demo`: the product running on one machine (service + simulator + web UI).

Until the whole road is wired, the demo checks every bundled site.
"""

from __future__ import annotations

import argparse

from fleet.cli.site import _check


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the service with the simulator and the web UI")
    parser.add_argument("--site", default="coil_yard", help="bundled site name or site file")
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    return _check(argparse.Namespace(files=[], json=False))
