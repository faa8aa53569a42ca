"""Authentication, roles, hashed secrets, rate limits (the audit log lives in the store)."""

from fleet.security.accounts import (
    Accounts,
    Forbidden,
    Principal,
    Unauthorized,
    ensure_demo_users,
)
from fleet.security.rate import RateLimiter
from fleet.security.roles import GRANTS, Permission, Role, allows

__all__ = [
    "GRANTS",
    "Accounts",
    "Forbidden",
    "Permission",
    "Principal",
    "RateLimiter",
    "Role",
    "Unauthorized",
    "allows",
    "ensure_demo_users",
]
