"""Motion planning: pure functions over numpy arrays, hot loops in numba (cached).

- `planners.lacam.solve`: one-shot multi-agent paths (LaCAM*, complete, anytime).
- `planners.lifelong.LifelongPlanner`: next moves each step while goals keep changing.
- `planners.validate.violations` / `check_plan`: the independent plan checker.
- `planners.problem.Blocks`: reservations others impose (closed nodes, time windows).
"""

import hashlib as _hashlib
from pathlib import Path as _Path


def _drop_stale_compiled() -> None:
    """Numba's cache (`cache=True`) checks only the changed function's own file, not the
    jitted functions it calls in other modules (`lifelong._step` calls `pibt.pibt_agent`):
    after an edit of one module, or a `git pull`, the others would run stale machine code.
    So the whole package's compiled cache goes when any of its sources changes."""
    here = _Path(__file__).parent
    cache = here / "__pycache__"
    digest = _hashlib.sha256(b"".join(p.read_bytes() for p in sorted(here.glob("*.py")))).hexdigest()
    stamp = cache / "numba-sources.sha256"
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for f in [*cache.glob("*.nbi"), *cache.glob("*.nbc")]:
            f.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: numba then has no cache to go stale either
        pass


_drop_stale_compiled()
