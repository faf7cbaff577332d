"""An update that raises is not an update (issue 21, item 10).

torchmetrics' ``update_count`` and ``update_called`` count the batches a metric
accepted; a batch rejected with an error leaves them, like the states, as they
were. So ``compute()`` after a failed first update still warns that no update
ran, as torchmetrics does for a metric never updated.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

from tests.conftest import METRIC_CLASSES, synthetic_batch

# Rejected by every metric: 5 targets (or rows of targets) for 3 rows of scores.
BAD = (torch.randn(3, 4), torch.zeros(5, 4))


def _feed(metric: Any, how: str, preds: torch.Tensor, target: torch.Tensor) -> None:
    if how == "update_state":
        metric.update_state(target, preds)  # Keras's order
    elif how == "forward":
        metric(preds, target)
    else:
        metric.update(preds, target)


@pytest.mark.parametrize("how", ["update", "update_state", "forward"])
@pytest.mark.parametrize("cls", METRIC_CLASSES, ids=lambda c: c.__name__)
def test_a_batch_that_raises_is_not_counted(cls: type, how: str) -> None:
    metric = cls()
    with pytest.raises(ValueError):
        _feed(metric, how, *BAD)
    assert (metric.update_count, metric.update_called) == (0, False)
    with pytest.warns(UserWarning, match="before the ``update`` method"):
        metric.compute()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # synthetic batches hold NaN scores and invalid labels on purpose
        _feed(metric, how, *synthetic_batch(cls, 6))
        metric.compute()
    assert (metric.update_count, metric.update_called) == (1, True)
    with pytest.raises(ValueError):
        _feed(metric, how, *BAD)
    assert metric.update_count == 1
