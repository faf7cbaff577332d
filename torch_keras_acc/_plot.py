"""``plot()`` for accuracies: named after the metric, titled, and always on [0, 1].

torchmetrics' own plot labels the y-axis with the class name, sets no title,
and writes "Optimal value" across its dashed line at 1.0; a ``MetricCollection``
plotted ``together=True`` gets no fixed range (``collection.KerasMetricCollection.plot`` uses this too). Here the y-axis label is the
metric's ``name`` (its key in a collection: ``"val_accuracy"``), the title names
the class too, and the note on the optimum sits above its line.

Example:
    >>> import torch_keras_acc as tka
    >>> top3 = tka.SparseTopKCategoricalAccuracy(k=3, name="top3")
    >>> top3.update([[0.1, 0.5, 0.2, 0.2]], [2])
    >>> fig, ax = top3.plot()
    >>> ax.get_ylabel(), ax.get_title(), [round(float(y), 2) for y in ax.get_ylim()]
    ('top3', 'top3 (SparseTopKCategoricalAccuracy)', [-0.1, 1.1])
"""

from __future__ import annotations

from typing import Any

__all__ = ["plot_accuracy"]


def plot_accuracy(val: Any, ax: Any, name: str, title: str | None) -> tuple[Any, Any]:
    """Plot one value, a sequence of values, or a dict of them, on a y-axis fixed to [0, 1]."""
    from torchmetrics.utilities.plot import plot_single_or_multi_val

    # higher_is_better=None: torchmetrics then writes no "Optimal value" over its line at 1.0.
    fig, ax = plot_single_or_multi_val(val, ax=ax, higher_is_better=None, lower_bound=0.0, upper_bound=1.0, name=name)
    ax.text(0.01, 1.0, "optimal value", transform=ax.get_yaxis_transform(), ha="left", va="bottom", fontsize="small")
    if title:
        ax.set_title(title, fontsize="medium")
    return fig, ax
