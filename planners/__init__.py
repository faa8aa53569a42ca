"""Motion planning: pure functions over numpy arrays, hot loops in numba (cached).

- `planners.lacam.solve`: one-shot multi-agent paths (LaCAM*, complete, anytime).
- `planners.lifelong.LifelongPlanner`: next moves each step while goals keep changing.
- `planners.validate.violations` / `check_plan`: the independent plan checker.
- `planners.problem.Blocks`: reservations others impose (closed nodes, time windows).
"""
