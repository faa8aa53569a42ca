"""Reproducible benchmarks: `fleet bench NAME [--quick] --out FILE.json`.

A benchmark is a module `bench/<name>.py` with `DESCRIPTION: str`,
`add_arguments(parser)` and `run(args) -> dict`. `run` returns flat figures with
units in their names (`median_step_ms`, `rmse_m`); the runner adds the machine,
writes the JSON and prints one summary line (`summary` key, if the module sets it).
"""
