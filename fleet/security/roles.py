"""Roles and what each may do. Roles are not ranked: each is a set of permissions, so a
token for one role can never do another role's work (an admin manages accounts but does
not drive machines; a WMS submits orders but cannot e-stop).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    DISPATCHER = "dispatcher"
    WMS = "wms"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"  # orders, machines, site, alarms, KPIs, events
    ORDERS = "orders:write"  # create, cancel, reprioritise
    MACHINES = "machines:control"  # pause, resume, e-stop, charge, out of service, e-stop all
    ZONES = "zones:control"  # close and open zones
    ALARMS = "alarms:ack"
    WEBHOOKS = "webhooks:manage"
    ACCOUNTS = "accounts:manage"  # users, tokens
    AUDIT = "audit:read"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.DISPATCHER: frozenset({Permission.READ, Permission.ORDERS, Permission.MACHINES,
                                Permission.ZONES, Permission.ALARMS}),
    Role.WMS: frozenset({Permission.READ, Permission.ORDERS, Permission.WEBHOOKS}),
    Role.ADMIN: frozenset({Permission.READ, Permission.WEBHOOKS, Permission.ACCOUNTS, Permission.AUDIT}),
}


def allows(role: str, permission: Permission) -> bool:
    try:
        return permission in GRANTS[Role(role)]
    except ValueError:
        return False


def roles_with(permission: Permission) -> list[str]:
    return [r.value for r, perms in GRANTS.items() if permission in perms]
