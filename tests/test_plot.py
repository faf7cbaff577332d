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
    assert ax2 is ax and ax.get_ylabel() == "BinaryAccuracy"


def test_a_collection_plots_each_metric():
    metrics = tka.collection(["accuracy", "sparse_top_k_categorical_accuracy"])
    metrics.update(torch.randn(8, 6), torch.randint(0, 6, (8,)))
    figures = metrics.plot()
    assert len(figures) == 2
