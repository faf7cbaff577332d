"""torch.jit.script: a metric scripts as torchmetrics' own metrics do (a placeholder), so models holding one script."""

from __future__ import annotations

import pytest
import torch
import torchmetrics

import torch_keras_acc as tka
from tests.conftest import METRIC_CLASSES

# torch 2.13 deprecates TorchScript (every scripted function warns); scripting is what is tested here.
# (and torchmetrics' update_called getter warns each time TorchScript inspects it).
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning",
    "ignore:This property will be removed:DeprecationWarning",
    "ignore:.*to_torchscript.*",
)


@pytest.mark.parametrize("cls", METRIC_CLASSES, ids=lambda c: c.__name__)
def test_metric_scripts_like_torchmetrics(cls):
    scripted = torch.jit.script(cls())
    reference = torch.jit.script(torchmetrics.classification.MulticlassAccuracy(num_classes=3))
    assert isinstance(scripted, torch.jit.ScriptModule) and isinstance(reference, torch.jit.ScriptModule)
    # Like torchmetrics' Metric.forward, ours is @torch.jit.unused: it is not run in TorchScript.
    for module in (scripted, reference):
        with pytest.raises(Exception):
            module(torch.randn(3, 3), torch.tensor([0, 1, 2]))


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.acc = tka.SparseCategoricalAccuracy()
        self.top2 = tka.collection(["sparse_top_k_categorical_accuracy"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def test_model_holding_metrics_scripts_and_runs():
    net = Net()
    scripted = torch.jit.script(net)
    x = torch.randn(5, 4)
    assert torch.equal(scripted(x), net(x))
    net.acc.update(net(x), torch.tensor([0, 1, 2, 0, 1]))  # the Python metric is untouched by scripting
    assert 0.0 <= float(net.acc.compute()) <= 1.0


def test_lightning_to_torchscript():
    pl = pytest.importorskip("lightning.pytorch")

    class Model(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Linear(4, 3)
            self.val_acc = tka.KerasAccuracy()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x)

    model = Model()
    scripted = model.to_torchscript()
    x = torch.randn(2, 4)
    assert torch.equal(scripted(x), model(x))
