"""Errors of the planners: input a planner refuses, naming the agent and the node."""

from __future__ import annotations

from fleet.errors import FleetError


class PlanInputError(FleetError, ValueError):
    """A planning problem that is malformed (two agents on one start, a goal on a blocked
    node, arrays of the wrong shape). `agent` is the offending agent's index when known."""

    status = 422
    kind = "plan-input"

    def __init__(self, problem: str, agent: int | None = None) -> None:
        self.problem = problem
        self.agent = agent
        super().__init__(problem)


class PlanViolation(FleetError, AssertionError):
    """A plan the checker rejects; `violations` lists every problem found (capped)."""

    status = 500
    kind = "plan-violation"

    def __init__(self, violations: list[str]) -> None:
        self.violations = violations
        more = "" if len(violations) <= 5 else f" (+{len(violations) - 5} more)"
        super().__init__("invalid plan: " + "; ".join(violations[:5]) + more)
