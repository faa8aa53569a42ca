"""The `fleet` command.

Each subcommand lives in its own module under `fleet/cli/` and exposes
`register(subparsers)`, which adds its parser and sets `func=handler(args) -> int`.
Modules are imported lazily by name so a missing optional part never breaks the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Order is the order shown in `fleet --help`.
SUBCOMMAND_MODULES = (
    "demo",
    "serve",
    "site",
    "mapf",
    "sim",
    "gateway",
    "bench",
    "user",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleet", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"fleet.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"fleet.cli.{name}":
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from fleet import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
