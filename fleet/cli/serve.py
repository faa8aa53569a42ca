"""`fleet serve --config FILE`: run one service instance (env `FLEET_*` overrides the file)."""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the orchestration service (WMS API, core, events)")
    p.add_argument("--config", help="YAML or JSON settings file")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--db-url", help="sqlite:///PATH or postgresql://...")
    p.add_argument("--site", help="bundled site name or site file")
    p.add_argument("--demo-users", action="store_true", help="create the demo logins and print them")
    p.add_argument("--loopback-vehicles", type=int, help="answer this many vehicles in-process (no simulator)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fleet.api.service import Service, configure_logging
    from fleet.config import load_settings
    from fleet.errors import FleetError
    from fleet.security import ensure_demo_users

    overrides = {k: v for k, v in {"host": args.host, "port": args.port, "db_url": args.db_url,
                                   "site": args.site, "loopback_vehicles": args.loopback_vehicles}.items()
                 if v is not None}
    if args.demo_users:
        overrides["demo_users"] = True
    try:
        settings = load_settings(args.config, **overrides)
        configure_logging(settings)
        service = Service(settings)
    except FleetError as exc:
        print(f"fleet serve: {exc}", file=sys.stderr)
        return 2
    if settings.demo_users:
        demo = ensure_demo_users(service.accounts)
        print(json.dumps({"demo": demo, "url": service.url}), flush=True)
    service.start()
    service.serve()
    return 0
