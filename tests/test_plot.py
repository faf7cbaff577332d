"""metric.plot(): torchmetrics' own plotting for one value and a sequence of values."""

from __future__ import annotations

import pytest
import torch

import torch_keras_acc as tka
from tests.conftest import METRIC_CLASSES, synthetic_batch

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def covers_unit_interval(ax):
    """torchmetrics draws [plot_lower_bound, plot_upper_bound] with a margin: the y-axis shows all of [0, 1], fixed."""
    low, high = ax.get_ylim()
    return -0.2 <= low <= 0.0 and 1.0 <= high <= 1.2


@pytest.mark.parametrize("cls", METRIC_CLASSES, ids=lambda c: c.__name__)
def test_single_value_and_sequence(cls):
    metric = cls(warn_pitfalls=False, on_invalid="ignore")
    values = [metric(*synthetic_batch(cls, 16, seed=s)) for s in range(4)]
    fig, ax = metric.plot()  # compute()
    assert isinstance(fig, matplotlib.figure.Figure) and covers_unit_interval(ax)
    [line] = ax.get_lines()
    assert line.get_ydata()[0] == pytest.approx(float(metric.compute()))
    fig, ax = metric.plot(values)
    [line] = ax.get_lines()
    assert list(line.get_ydata()) == pytest.approx([float(v) for v in values])
    assert covers_unit_interval(ax)


def test_plots_onto_a_given_axis_and_names_the_metric():
    _, ax = plt.subplots()
    metric = tka.BinaryAccuracy()
    metric.update([[0.9], [0.2]], [[1], [1]])
    fig, ax2 = metric.plot(ax=ax)
    # named by the metric's name (what Keras prints), titled with its class
    assert ax2 is ax and ax.get_ylabel() == "binary_accuracy" and ax.get_title() == "binary_accuracy (BinaryAccuracy)"
    assert tka.SparseTopKCategoricalAccuracy(k=3, name="top3").plot(torch.tensor(0.5))[1].get_ylabel() == "top3"


def _optimal_note(ax):
    [text] = [t for t in ax.texts if "ptimal" in t.get_text()]
    return text


def test_the_optimal_value_note_sits_above_its_line():
    """torchmetrics centres "Optimal value" on the dashed line at 1.0; ours is above it, inside the axes."""
    metric = tka.SparseCategoricalAccuracy()
    fig, ax = metric.plot([torch.tensor(0.3), torch.tensor(0.6)])
    note = _optimal_note(ax)
    assert note.get_position()[1] == 1.0 and note.get_verticalalignment() == "bottom"
    fig.canvas.draw()
    box = note.get_window_extent()
    line_y = ax.transData.transform((0, 1.0))[1]
    assert box.y0 >= line_y - 1 and ax.bbox.contains(box.x0 + 1, box.y1 - 1)


def test_a_collection_plots_each_metric():
    metrics = tka.collection(["accuracy", "sparse_top_k_categorical_accuracy"], prefix="val_")
    metrics.update(torch.randn(8, 6), torch.randint(0, 6, (8,)))
    figures = metrics.plot()
    assert len(figures) == 2
    assert [ax.get_ylabel() for _, ax in figures] == ["val_accuracy", "val_sparse_top_k_categorical_accuracy"]
    assert all(covers_unit_interval(ax) for _, ax in figures)


def test_a_collection_plotted_together_is_on_the_unit_interval():
    metrics = tka.collection(["accuracy", tka.SparseTopKCategoricalAccuracy(k=3, name="top3")], prefix="val_")
    values = [metrics(torch.randn(8, 6), torch.randint(0, 6, (8,))) for _ in range(3)]
    fig, ax = metrics.plot(values, together=True)
    assert covers_unit_interval(ax) and "val_top3" in ax.get_title()
    assert sorted(line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")) == ["val_accuracy", "val_top3"]
