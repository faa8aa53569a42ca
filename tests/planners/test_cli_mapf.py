"""`fleet mapf solve` on a small MovingAI instance written to a temp dir."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from fleet.cli import main

MAP = """type octile
height 4
width 5
map
.....
.@@..
.....
..@..
"""


def _scen(rows: list[tuple[int, int, int, int]]) -> str:
    lines = ["version 1"]
    for sx, sy, gx, gy in rows:
        lines.append(f"0\tt.map\t5\t4\t{sx}\t{sy}\t{gx}\t{gy}\t0")
    return "\n".join(lines) + "\n"


def test_solve_writes_paths_in_scenario_order(tmp_path: Path) -> None:
    (tmp_path / "t.map").write_text(MAP)
    (tmp_path / "t.scen").write_text(_scen([(0, 0, 4, 3), (4, 3, 0, 0), (3, 1, 3, 1)]))
    out = tmp_path / "out.json"
    code = main(["mapf", "solve", "--map", str(tmp_path / "t.map"), "--scen", str(tmp_path / "t.scen"),
                 "--agents", "3", "--time-limit", "5", "--out", str(out)])
    data = json.loads(out.read_text())
    assert code == 0 and data["solved"] and data["valid"]
    paths = data["paths"]
    assert paths[0][0] == [0, 0] and paths[0][-1] == [4, 3]
    assert paths[1][0] == [4, 3] and paths[1][-1] == [0, 0]
    assert paths[2][0] == paths[2][-1] == [3, 1]  # home already (may step aside for others)
    assert data["soc"] >= data["lower_bound_soc"] > 0
    assert data["makespan"] == max(len(p) for p in paths) - 1
    for p in paths:
        for (x0, y0), (x1, y1) in itertools.pairwise(p):
            assert abs(x0 - x1) + abs(y0 - y1) <= 1


def test_goal_on_blocked_cell_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "t.map").write_text(MAP)
    (tmp_path / "t.scen").write_text(_scen([(0, 0, 1, 1)]))
    code = main(["mapf", "solve", "--map", str(tmp_path / "t.map"), "--scen", str(tmp_path / "t.scen"),
                 "--agents", "1", "--time-limit", "1"])
    assert code == 2
    assert "agent 0: goal (1, 1) is a blocked cell" in capsys.readouterr().err
