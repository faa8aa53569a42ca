"""`fleet user add NAME --role ROLE` and `fleet token create --role ROLE`: accounts in the store."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    user = subparsers.add_parser("user", help="manage users (login for the web UI)")
    usub = user.add_subparsers(dest="user_cmd", metavar="ACTION")
    add = usub.add_parser("add", help="add a user (password from --password, $FLEET_PASSWORD or a prompt)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["viewer", "dispatcher", "wms", "admin"])
    add.add_argument("--password")
    add.add_argument("--replace", action="store_true", help="change an existing user's role and password")
    add.set_defaults(func=_user_add)
    lst = usub.add_parser("list", help="list users")
    lst.set_defaults(func=_user_list)
    user.set_defaults(func=lambda a: (user.print_help(), 2)[1])

    token = subparsers.add_parser("token", help="manage API tokens (WMS, scripts)")
    tsub = token.add_subparsers(dest="token_cmd", metavar="ACTION")
    create = tsub.add_parser("create", help="create a token and print it once")
    create.add_argument("--role", required=True, choices=["viewer", "dispatcher", "wms", "admin"])
    create.add_argument("--label")
    create.add_argument("--ttl-s", type=float)
    create.set_defaults(func=_token_create)
    revoke = tsub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("token_id")
    revoke.set_defaults(func=_token_revoke)
    tlist = tsub.add_parser("list", help="list tokens (ids, roles; never the secrets)")
    tlist.set_defaults(func=_token_list)
    token.set_defaults(func=lambda a: (token.print_help(), 2)[1])
    for p in (add, lst, create, revoke, tlist):
        p.add_argument("--config", help="settings file (for db_url)")
        p.add_argument("--db-url")


def _accounts(args: argparse.Namespace):
    from fleet.config import load_settings
    from fleet.security import Accounts
    from fleet.store import Store

    overrides = {"db_url": args.db_url} if args.db_url else {}
    settings = load_settings(args.config, **overrides)
    return Accounts(Store(settings.db_url))


def _guard(fn):
    def run(args: argparse.Namespace) -> int:
        from fleet.errors import FleetError

        try:
            return fn(args)
        except FleetError as exc:
            print(f"fleet: {exc}", file=sys.stderr)
            return 1
    return run


@_guard
def _user_add(args: argparse.Namespace) -> int:
    password = args.password or os.environ.get("FLEET_PASSWORD") or getpass.getpass(f"password for {args.name}: ")
    _accounts(args).add_user(args.name, args.role, password, replace=args.replace)
    print(f"user {args.name} ({args.role}) saved")
    return 0


@_guard
def _user_list(args: argparse.Namespace) -> int:
    for u in _accounts(args).users():
        print(json.dumps(u))
    return 0


@_guard
def _token_create(args: argparse.Namespace) -> int:
    token_id, token = _accounts(args).create_token(args.role, label=args.label, ttl_s=args.ttl_s)
    print(json.dumps({"id": token_id, "role": args.role, "token": token}))
    return 0


@_guard
def _token_revoke(args: argparse.Namespace) -> int:
    _accounts(args).revoke(args.token_id)
    print(f"token {args.token_id} revoked")
    return 0


@_guard
def _token_list(args: argparse.Namespace) -> int:
    for t in _accounts(args).tokens():
        print(json.dumps(t))
    return 0
