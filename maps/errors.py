"""Errors of the site model; each names the file, the place inside it and what is wrong."""

from __future__ import annotations

from fleet.errors import FleetError


class SiteModelError(FleetError):
    """A site that cannot be used: root of the site-model errors."""


class SiteFileError(SiteModelError):
    """A site file that is malformed or inconsistent.

    `file` is the path, `where` a JSON-pointer-like path inside it
    (`lanes[3].to`) or a line number, `problem` what is wrong.
    """

    def __init__(self, file: str, where: str, problem: str) -> None:
        self.file = file
        self.where = where
        self.problem = problem
        loc = f"{file}: {where}" if where else file
        super().__init__(f"{loc}: {problem}")


class SiteCheckError(SiteModelError):
    """A site that loads but fails a check (unreachable station, dead end, ...)."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file = file
        self.problems = problems
        super().__init__(f"{file}: " + "; ".join(problems))
