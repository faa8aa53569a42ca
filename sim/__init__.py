"""The simulator: AGVs, cranes, sensors, the 5G link and faults, with shift reports.

The main pieces (see docs/simulator.md):
`World` (sim.world) holds every simulated machine; `SimGateway` (sim.gateway) puts it on
the vehicle bus; `load_scenario` (sim.scenario) reads a scenario file; `run_shift`
(sim.runner) runs one against a `Brain`; `write_report` (sim.report) writes the KPIs,
plots and summary; `SafetyMonitor` (sim.safety) checks the true world independently.

Imports are left to the submodules so `import sim` stays cheap.
"""

__all__: list[str] = []
