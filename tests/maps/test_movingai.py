import numpy as np
import pytest

from maps.errors import SiteFileError
from maps.movingai import BLOCKED, grid_graph, read_map, read_scenario


def _count_free(path):
    lines = path.read_text().splitlines()
    i = next(k for k, line in enumerate(lines) if line.strip() == "map")
    return sum(c not in BLOCKED for row in lines[i + 1 :] for c in row.rstrip("\n"))


def test_every_bench_map_free_cells_match_the_file(bench_dir):
    maps = sorted((bench_dir / "maps").glob("*.map"))
    assert maps
    for path in maps:
        grid = read_map(path)
        g = grid_graph(grid)
        assert grid.free_cells == _count_free(path) == g.n_nodes, path.name


def test_grid_graph_is_4_connected_and_symmetric(bench_dir):
    g = grid_graph(read_map(bench_dir / "maps" / "random-32-32-20.map"))
    for i in range(g.n_nodes):
        for j in g.neighbours(i):
            assert abs(g.xy[i] - g.xy[j]).sum() == 1
            assert i in g.neighbours(j)
    assert g.node_of_cell(-1, 0) == -1


def test_scenario_starts_and_goals_are_free(bench_dir):
    grid = read_map(bench_dir / "maps" / "den520d.map")
    agents = read_scenario(bench_dir / "scen" / "den520d-random-1.scen", agents=200)
    assert len(agents) == 200
    assert all(grid.free[a.start[1], a.start[0]] and grid.free[a.goal[1], a.goal[0]] for a in agents)


def test_bad_map_files_fail_clearly(tmp_path):
    p = tmp_path / "x.map"
    p.write_text("type octile\nheight 2\nwidth 3\nmap\n...\n..\n")
    with pytest.raises(SiteFileError, match="row has 2 cells"):
        read_map(p)
    p.write_text("nonsense")
    with pytest.raises(SiteFileError):
        read_map(p)
    with pytest.raises(SiteFileError, match="cannot read"):
        read_map(tmp_path / "missing.map")


def test_small_map_layout(tmp_path):
    p = tmp_path / "s.map"
    p.write_text("type octile\nheight 2\nwidth 3\nmap\n.@.\n...\n")
    g = grid_graph(read_map(p))
    assert g.n_nodes == 5
    assert np.array_equal(g.cell_to_node, np.array([0, -1, 1, 2, 3, 4], dtype=np.int32))
