"""The metric objects beyond parity: exact state, dtypes, spellings, inputs.

Expected values come from the Keras fixtures; where a test combines them
(repeating a batch, merging batches) the combination is plain arithmetic on
Keras's own numbers.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

import torch_keras_acc as tka
from tests.conftest import CLASSES, assert_value, cases, to_torch

ALL_CLASSES = list(CLASSES.values())
KERAS_NAMES = {cls: name for name, cls in CLASSES.items()}


@pytest.mark.parametrize("cls", ALL_CLASSES)
def test_empty_result_is_zero_and_float32(cls):
    m = cls()
    with pytest.warns(UserWarning, match="before the ``update``"):  # torchmetrics' own notice
        r = m.result()
    assert r.dtype == torch.float32 and float(r) == 0.0
    assert m.name == KERAS_NAMES[cls]


@pytest.mark.parametrize("dtype", ["float64", torch.float64, "float16", "bfloat16"])
def test_result_dtype(dtype):
    case = cases(id="sparse_categorical_accuracy/doc_weighted")[0]
    b = case["batches"][0]
    m = tka.SparseCategoricalAccuracy(dtype=dtype)
    m.update_state(b["y_true"]["data"], b["y_pred"]["data"], b["sample_weight"]["data"])
    r = m.result()
    assert r.dtype == {"float64": torch.float64, "float16": torch.float16, "bfloat16": torch.bfloat16}.get(str(dtype).replace("torch.", ""))
    assert_value(r, case["keras3"]["cumulative"][0], "result", atol=1e-2 if r.dtype in (torch.float16, torch.bfloat16) else 1e-6)
    # the accumulators stay float64 whatever the result dtype
    assert m.total.dtype == m.count.dtype == torch.float64


@pytest.mark.parametrize("dtype", ["complex64", "float", "str", torch.complex64, 3])
def test_bad_dtype(dtype):
    if dtype == "float":  # Keras's alias of float32, accepted
        assert tka.Accuracy(dtype=dtype).result_dtype == torch.float32
        return
    with pytest.raises(ValueError, match="accuracy: dtype must be a float or integer dtype"):
        tka.Accuracy(dtype=dtype)


def test_count_is_exact_past_2_pow_24():
    """Keras's float32 count stops at 2**24; ours keeps counting.

    One all-correct batch of 2**24 samples, then 1000 single wrong samples:
    Keras (float32 count) would still report 1.0.
    """
    n = 2**24
    m = tka.BinaryAccuracy()
    m.update(torch.ones(n), torch.ones(n))
    for _ in range(1000):
        m.update(torch.ones(1), torch.zeros(1))
    assert float(m.count) == n + 1000
    want = Fraction(n, n + 1000)
    assert abs(float(m.compute().double()) - float(want)) < 1e-7
    assert float(m.compute()) < 1.0


def test_repeated_fixture_batch_keeps_its_value():
    """A Keras fixture batch repeated past 2**24 samples keeps Keras's value for that batch."""
    case = cases(id="sparse_categorical_accuracy/labels_n_c10")[0]
    b = case["batches"][0]
    y_true, y_pred = to_torch(b["y_true"]), to_torch(b["y_pred"])
    reps = 2**24 // y_true.shape[0] + 2
    m = tka.SparseCategoricalAccuracy()
    m.update(y_pred.repeat(reps, 1), y_true.repeat(reps))
    assert float(m.count) > 2**24
    assert_value(m.compute(), case["keras3"]["batch"][0], "repeated batch")


@pytest.mark.parametrize("kind", ["list", "numpy", "tensor"])
def test_input_kinds_agree(kind):
    case = cases(id="sparse_top_k_categorical_accuracy/batches_mixed_weights")[0]
    m = tka.SparseTopKCategoricalAccuracy(**case["kwargs"])
    for b in case["batches"]:
        conv = {"list": lambda s: None if s is None else to_torch(s).tolist(), "numpy": lambda s: to_torch(s, "numpy"), "tensor": to_torch}[kind]
        m.update_state(conv(b["y_true"]), conv(b["y_pred"]), conv(b.get("sample_weight")))
    assert_value(m.result(), case["keras3"]["cumulative"][-1], kind)


def test_reset_both_spellings():
    case = cases(id="binary_accuracy/doc")[0]
    b = case["batches"][0]
    m = tka.BinaryAccuracy()
    for reset in (m.reset, m.reset_state):
        m.update_state(b["y_true"]["data"], b["y_pred"]["data"])
        m.update_state(b["y_true"]["data"], [[0.0]] * 4)
        reset()
        assert float(m.total) == 0 and float(m.count) == 0
        m.update_state(b["y_true"]["data"], b["y_pred"]["data"])
        assert_value(m.result(), case["keras3"]["cumulative"][0], "after reset")
        m.reset()


def test_requires_grad_inputs_keep_no_graph():
    preds = torch.rand(8, 4, requires_grad=True)
    m = tka.SparseCategoricalAccuracy()
    m.update(preds * 2, torch.randint(0, 4, (8,)))
    assert not m.total.requires_grad and not m.count.requires_grad
    assert m.compute().grad_fn is None


def test_kwargs_attributes_and_torchmetrics_options():
    m = tka.SparseTopKCategoricalAccuracy(3, "top3", from_sorted_ids=True, sync_on_compute=False)
    assert (m.k, m.name, m.from_sorted_ids, m.sync_on_compute) == (3, "top3", True, False)
    assert tka.BinaryAccuracy(threshold=0.7).threshold == 0.7
    assert "k=3" in repr(m)
    with pytest.raises(ValueError, match="Unexpected keyword"):
        tka.Accuracy(bogus=1)
    with pytest.raises(TypeError, match="k must be an int"):
        tka.TopKCategoricalAccuracy(k=2.5)


def test_numpy_integer_k():
    assert tka.TopKCategoricalAccuracy(k=np.int64(2)).k == 2


def test_merge_state_refuses_another_configuration():
    a, b = tka.TopKCategoricalAccuracy(k=1), tka.TopKCategoricalAccuracy(k=5)
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge_state(b)
    with pytest.raises(ValueError, match="another kind or configuration"):
        a.merge_state({"total": torch.tensor(1.0), "count": torch.tensor(2.0), "kernel": b.kernel})
    a.merge_state(tka.TopKCategoricalAccuracy(k=1, name="other_name"))  # the name does not matter


def test_dtype_casts_never_reach_the_accumulators():
    m = tka.SparseCategoricalAccuracy()
    m.update(torch.rand(4, 3), torch.tensor([0, 1, 2, 0]))
    for cast in (lambda x: x.to(torch.float16), lambda x: x.half(), lambda x: x.to(torch.bfloat16), lambda x: x.double()):
        cast(m)
        assert m.total.dtype == m.count.dtype == torch.float64 and m.invalid.dtype == m.kernel.dtype == torch.int64
    m.set_dtype(torch.float32)  # the explicit opt-in still works
    assert m.total.dtype == torch.float32


def test_forward_refuses_a_synced_state():
    from torchmetrics.utilities.exceptions import TorchMetricsUserError

    m = tka.SparseCategoricalAccuracy()
    m.update(torch.rand(4, 3), torch.tensor([0, 1, 2, 0]))
    m.sync(dist_sync_fn=lambda x, group=None: [x, x], distributed_available=lambda: True)
    with pytest.raises(TorchMetricsUserError, match="synced"):
        m(torch.rand(2, 3), torch.tensor([0, 1]))
    m.unsync()
    assert float(m.count) == 4
