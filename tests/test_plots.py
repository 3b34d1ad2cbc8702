"""neurallab.plots: figures render off-screen, are labelled, and bad input is refused."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from neurallab import plots
from neurallab.errors import InputError


def test_save_figure_writes_a_png_of_the_requested_size(tmp_path):
    fig, (ax,) = plots.new_figure(width=4, height=3)
    ax.plot([0, 1], [0, 1])
    path = plots.save_figure(fig, tmp_path / "line.png", dpi=50)
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size == (200, 150)
    assert [p.name for p in tmp_path.iterdir()] == ["line.png"]  # no temporary file left


def test_save_figure_into_a_missing_folder_is_a_clear_error(tmp_path):
    fig, _ = plots.new_figure()
    with pytest.raises(Exception, match="does not exist"):
        plots.save_figure(fig, tmp_path / "nope" / "x.png")


def test_new_figure_mixes_2d_and_3d_axes():
    fig, axes = plots.new_figure(2, projection=[None, "3d"])
    assert [a.name for a in axes] == ["rectilinear", "3d"]
    with pytest.raises(InputError, match="projection needs 2 entries"):
        plots.new_figure(2, projection=["3d"])


def test_plot_curves_labels_axes_and_masks_non_positive_values_on_log_scale():
    fig, (ax,) = plots.new_figure()
    plots.plot_curves(ax, {"a": [1.0, 0.1, 0.0], "b": ([0, 2], [0.5, 0.2])}, logy=True,
                      title="t", xlabel="iteration", ylabel="cost")
    assert ax.get_yscale() == "log"
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("t", "iteration", "cost")
    a, b = ax.get_lines()
    assert np.isnan(a.get_ydata()[2])               # 0 cannot be drawn on a log axis
    assert list(b.get_xdata()) == [0, 2]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]


def test_plot_bars_writes_values_and_leaves_nan_slots_empty():
    fig, (ax,) = plots.new_figure()
    plots.plot_bars(ax, ["x", "y"], {"s1": [1.0, 2.0], "s2": [3.0, np.nan]}, value_fmt="{:.1f}")
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["1.0", "2.0", "3.0", ""]
    assert ax.get_ylim()[1] >= 3.0 * 1.3 - 1e-9       # headroom for labels and legend
    with pytest.raises(InputError, match="series 's' has 3 values for 2 groups"):
        plots.plot_bars(ax, ["x", "y"], {"s": [1, 2, 3]})


def test_plot_contour_checks_shape_and_log_needs_positive_values():
    x, y = np.linspace(0, 1, 5), np.linspace(0, 2, 4)
    Z = np.add.outer(y, x) + 0.1
    fig, (ax,) = plots.new_figure()
    plots.plot_contour(ax, x, y, Z, log=True, fmt="%.2f", xlabel="a", ylabel="b")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("a", "b")
    with pytest.raises(InputError, match=r"shape \(len\(y\), len\(x\)\) = \(4, 5\)"):
        plots.plot_contour(ax, x, y, Z.T)
    with pytest.raises(InputError, match="positive"):
        plots.plot_contour(ax, x, y, Z - 1.0, log=True)


def test_plot_surface_needs_a_3d_axes():
    x, y = np.linspace(0, 1, 3), np.linspace(0, 1, 2)
    Z = np.zeros((2, 3))
    fig, (ax2d, ax3d) = plots.new_figure(2, projection=[None, "3d"])
    plots.plot_surface(ax3d, x, y, Z, zlabel="z")
    assert ax3d.get_zlabel() == "z"
    with pytest.raises(InputError, match="3-D axes"):
        plots.plot_surface(ax2d, x, y, Z)


@pytest.mark.parametrize("lo,hi", [(0.0, 100.0), (44.5, 99.7), (-3.2, 7.9), (0.001, 0.0042)])
def test_nice_levels_are_round_and_cover_the_range(lo, hi):
    levels = plots.nice_levels(lo, hi)
    assert levels[0] <= lo and levels[-1] >= hi
    step = np.diff(levels)
    assert np.allclose(step, step[0])
    mantissa = step[0] / 10 ** np.floor(np.log10(step[0]))
    assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    assert 5 <= levels.size <= 25


def test_image_grid_and_its_errors():
    images = np.random.default_rng(0).random((5, 6, 6))
    fig = plots.image_grid(images, labels=list("abcde"), ncols=3, title="samples")
    assert len(fig.axes) == 5
    assert [a.get_title() for a in fig.axes] == list("abcde")
    with pytest.raises(InputError, match="got 2 labels for 5 images"):
        plots.image_grid(images, labels=["a", "b"])
    with pytest.raises(InputError, match=r"shape \(n, height, width"):
        plots.image_grid(np.zeros((6, 6)))


def test_confusion_matrix_writes_counts_and_normalised_rates():
    cm = np.array([[5, 1], [0, 4]])
    fig, (ax,) = plots.new_figure()
    plots.confusion_matrix(ax, cm, ["cat", "dog"])
    assert [t.get_text() for t in ax.texts] == ["5", "1", "0", "4"]
    fig, (ax,) = plots.new_figure()
    plots.confusion_matrix(ax, cm, ["cat", "dog"], normalize=True)
    assert [t.get_text() for t in ax.texts] == ["0.83", "0.17", "0.00", "1.00"]
    with pytest.raises(InputError, match=r"shape \(3, 3\) for 3 classes"):
        plots.confusion_matrix(ax, cm, ["a", "b", "c"])


def test_importing_plots_does_not_start_pyplot():
    code = "import sys, neurallab.plots; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
