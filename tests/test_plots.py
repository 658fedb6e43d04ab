"""lamport.analysis.plots: every figure is a real, small, non-trivial PNG."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from lamport.analysis import load_run, load_sweep, plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk; fail unless the file is a PNG."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_figure(path: Path) -> None:
    assert path.is_file()
    width, height = png_size(path)
    assert 400 <= width <= 2000 and 200 <= height <= 1500, (width, height)
    assert 10_000 < path.stat().st_size < 500_000


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from lamport.config import experiment
    from lamport.des import simulate

    out = tmp_path_factory.mktemp("plots") / "run"
    simulate(experiment(4).config(seed=1)).write(out)
    return load_run(out)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from lamport.des.sweep import sweep

    out = tmp_path_factory.mktemp("plots") / "sweep"
    sweep(seeds=3, jobs=1, out=out)
    return load_sweep(out)


def test_run_figures(run, tmp_path):
    paths = plots.run_figures(run, tmp_path / "figures")
    assert set(paths) == set(plots.RUN_FIGURES)
    for stem, path in paths.items():
        assert path == tmp_path / "figures" / f"{stem}.png"
        assert_figure(path)


def test_each_run_plot_returns_its_path(run, tmp_path):
    for function in (plots.clock_plot, plots.gap_plot, plots.queue_plot, plots.jump_plot):
        target = tmp_path / f"{function.__name__}.png"
        assert function(run, target) == target
        assert_figure(target)


def test_spacetime_window_is_configurable(run, tmp_path):
    short = plots.spacetime_plot(run, tmp_path / "short.png", seconds=2)
    long = plots.spacetime_plot(run, tmp_path / "long.png", seconds=30)  # too many labels
    assert_figure(short)
    assert_figure(long)


def test_sweep_figures(sweep, tmp_path):
    paths = plots.sweep_figures(sweep, tmp_path)
    assert set(paths) == set(plots.SWEEP_FIGURES)
    for path in paths.values():
        assert_figure(path)
    _, height = png_size(paths["overview"])
    assert height > 400  # eleven experiment rows


def test_plots_leave_no_open_figures(run, tmp_path):
    import matplotlib.pyplot as plt

    plots.run_figures(run, tmp_path)
    assert plt.get_fignums() == []
