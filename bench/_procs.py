"""Linux /proc accounting for the benchmarks: which processes run below a server, and the
CPU they used (a benchmark reports the service's, its edge processes' and PostgreSQL's)."""

from __future__ import annotations

import glob
import os
from pathlib import Path


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, NaN when it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, their children, ...), not `pid` itself."""
    below: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = Path(stat).read_text()
            child, parent = int(text.split()[0]), int(text.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        below.setdefault(parent, []).append(child)
    out, todo = [], list(below.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo += below.get(p, [])
    return out
