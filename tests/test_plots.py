"""lamport.analysis.plots: every plot returns a Figure; saved, a real, small, non-trivial PNG."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from lamport.analysis import load_run, load_sweep, plots, sweep_stats

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


RUN_PLOTS = (plots.clock_plot, plots.drift_plot, plots.queue_plot, plots.jump_plot)


def test_each_run_plot_returns_a_figure_and_saves_on_request(run, tmp_path):
    from matplotlib.figure import Figure

    for function in (*RUN_PLOTS, plots.spacetime_plot):
        figure = function(run)
        assert isinstance(figure, Figure) and figure.axes
        target = tmp_path / f"{function.__name__}.png"
        assert isinstance(function(run, target), Figure)
        assert_figure(target)


def test_plots_take_a_run_in_memory_or_a_directory(exp4_run):
    result, path = exp4_run
    for source in (result, path, str(path)):
        ax = plots.clock_plot(source).axes[0]
        assert len(ax.lines) == 3


def test_queue_plot_ends_at_the_final_queue(run):
    ax = plots.queue_plot(run).axes[0]
    for line, final in zip(ax.lines, run.queued_at_end, strict=True):
        x, y = line.get_data()
        assert x[-1] == run.duration
        assert y[-1] == final  # the tables' final queue, in flight included


def test_jump_axis_is_labelled_in_plain_numbers(run):
    for ax in plots.jump_plot(run).axes:
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels[:3] == ["1", "2", "5"], labels


def test_many_machines_draw_quantile_bands(tmp_path):
    from lamport.config import RunConfig
    from lamport.des import simulate

    rates = tuple(float(1 + i % 3) for i in range(24))
    run = simulate(RunConfig(rates=rates, p_send=0.3, duration=5, seed=2))
    for function in (plots.clock_plot, plots.drift_plot, plots.queue_plot):
        ax = function(run).axes[0]
        assert len(ax.lines) == 3  # one median per tick rate, not one line per machine
        assert len(ax.collections) == 6  # two bands per rate
        assert "median across machines" in ax.get_title()
    assert len(plots.jump_plot(run).axes) == 3  # a panel per rate
    spacetime = plots.spacetime_plot(run).axes[0]
    assert len(spacetime.get_yticks()) == plots.SPACETIME_MACHINES
    paths = plots.run_figures(run, tmp_path)
    for path in paths.values():
        assert_figure(path)


def test_spacetime_window_is_configurable(run, tmp_path):
    short = plots.spacetime_plot(run, tmp_path / "short.png", seconds=2)
    long = plots.spacetime_plot(run, tmp_path / "long.png", seconds=30)  # too many labels
    assert short.axes[0].get_xlim() == (0, 2)
    assert_figure(tmp_path / "short.png")
    assert_figure(tmp_path / "long.png")
    assert long.axes[0].get_xlim() == (0, 30)


def test_sweep_figures(sweep, tmp_path):
    paths = plots.sweep_figures(sweep, tmp_path)
    assert set(paths) == set(plots.SWEEP_FIGURES)
    for path in paths.values():
        assert_figure(path)
    _, height = png_size(paths["overview"])
    assert height > 400  # eleven experiment rows


def test_spread_of_one_seed_shows_every_seed(tmp_path):
    from lamport.des import sweep

    figure = plots.spread_plot(sweep([1, 4], seeds=1, jobs=1), tmp_path / "spread.png")
    assert_figure(tmp_path / "spread.png")
    for ax in figure.axes:
        # experiment 4: a dot per machine; experiment 1: a dot per machine, grouped by rate
        dots = sum(len(c.get_offsets()) for c in ax.collections)
        assert dots == 6
    labels = [t.get_text() for t in figure.axes[-1].get_xticklabels()]
    assert labels[-3:] == ["m0", "m1", "m2"]
    assert all(label.endswith("/s") for label in labels[:-3])


def test_plots_leave_no_open_figures(run, tmp_path):
    import matplotlib.pyplot as plt

    plots.run_figures(run, tmp_path)
    plots.clock_plot(run)
    assert plt.get_fignums() == []


def test_overview_leaves_out_random_rate_experiments_and_says_so():
    from lamport.des import sweep

    both = sweep([1, 4], seeds=2, jobs=1, duration=10)
    figure = plots.overview_plot(both)
    rows = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert rows == ["4 big-differences (1,3,6; p 0.3)"]  # no blank row for experiment 1
    notes = [t.get_text() for t in figure.texts]
    assert plots.overview_note("1 default") in notes
    # the drift panel annotates machine 0's mean drift at end, as the sweep's stats give it
    stats = sweep_stats(both)
    drift0 = stats[(stats["experiment"] == 4) & (stats["machine"] == 0)]["drift_end"].iloc[0]
    cells = [t.get_text() for t in figure.axes[1].texts]
    assert cells[0] == f"{drift0:.0f}"

    only_random = plots.overview_plot(sweep([1], seeds=2, jobs=1, duration=10))
    assert [t.get_text() for t in only_random.axes[0].get_yticklabels()] == [
        "1 default (random rates: by rate in the table; p 0.3)"
    ]
    columns = [t.get_text() for t in only_random.axes[0].get_xticklabels()]
    assert columns and all(c.endswith("/s") for c in columns)
    assert not any(t.get_text().startswith("Not shown") for t in only_random.texts)
