"""Parity with real Keras: every case of tests/fixtures/keras_parity.json.

The expected values were written by tests/fixtures/generate.py running Keras 3
on TensorFlow (and tf_keras). Per-sample outputs must match exactly; results
within 1e-6 (we accumulate in float64, Keras in float32).
"""

from __future__ import annotations

import copy

import pytest
import torch

import torch_keras_acc as tka
from torch_keras_acc import functional as F
from tests.conftest import CLASSES, assert_value, case_params, cases, expected_for, parity, to_torch

ALL = parity()["cases"]
BAD_INPUT = (ValueError, TypeError)

# Several fixtures are deliberate mistakes (one-hot labels to a sparse metric,
# out-of-range labels): the one-time warnings they raise are tested elsewhere.
pytestmark = [
    pytest.mark.filterwarnings("ignore::torch_keras_acc.KerasPitfallWarning"),
    pytest.mark.filterwarnings(r"ignore:.*label\(s\) were not integers:UserWarning"),
]


def test_fixture_records_versions():
    v = parity()["versions"]
    assert v["keras"].startswith("3.") and v["keras_backend"] == "tensorflow"
    assert v["tensorflow"] and v["tf_keras"].startswith("2.")
    assert len(ALL) >= 300


@pytest.mark.parametrize("kind", ["tensor", "numpy"])
@pytest.mark.parametrize("case", case_params(ALL))
def test_functional(case, kind):
    fn = getattr(F, case["metric"])
    for i, (batch, want) in enumerate(zip(case["batches"], expected_for(case)["fn"])):
        args = to_torch(batch["y_true"], kind), to_torch(batch["y_pred"], kind)
        if "error" in want:
            with pytest.raises(BAD_INPUT, match=case["metric"]):
                fn(*args, **case["kwargs"])
            continue
        got = fn(*args, **case["kwargs"])
        assert got.dtype == torch.float32
        assert list(got.shape) == want["shape"], f"batch {i}: shape"
        assert got.flatten().tolist() == torch.tensor(want["data"]).flatten().tolist(), f"batch {i}"


def _state(m):
    return m.total.clone(), m.count.clone()


@pytest.mark.parametrize("case", case_params(ALL))
def test_keras_spelling(case):
    """update_state(y_true, y_pred, sample_weight) then result(), after each batch."""
    want = expected_for(case)
    m = CLASSES[case["metric"]](**case["kwargs"])
    for i, batch in enumerate(case["batches"]):
        args = to_torch(batch["y_true"]), to_torch(batch["y_pred"]), to_torch(batch.get("sample_weight"))
        if isinstance(want["cumulative"][i], dict):
            before = _state(m)
            with pytest.raises(BAD_INPUT, match=case["metric"]):
                m.update_state(*args)
            assert all(torch.equal(a, b) for a, b in zip(before, _state(m))), "a failed update changed the state"
            m.reset_state()
            continue
        m.update_state(*args)
        assert_value(m.result(), want["cumulative"][i], f"result() after batch {i}")
        assert m.result().dtype == torch.float32


@pytest.mark.parametrize("case", case_params(ALL))
def test_torchmetrics_spelling(case):
    """forward(preds, target) returns the batch value; compute() the running one."""
    want = expected_for(case)
    m = CLASSES[case["metric"]](**case["kwargs"])
    for i, batch in enumerate(case["batches"]):
        preds, target = to_torch(batch["y_pred"]), to_torch(batch["y_true"])
        sw = to_torch(batch.get("sample_weight"))
        if isinstance(want["batch"][i], dict):
            with pytest.raises(BAD_INPUT, match=case["metric"]):
                m(preds, target, sample_weight=sw)
            m.reset()
            continue
        assert_value(m(preds, target, sample_weight=sw), want["batch"][i], f"forward() on batch {i}")
        assert_value(m.compute(), want["cumulative"][i], f"compute() after batch {i}")


# Where tf_keras (Keras 2) and what we promise (Keras 3, or for a documented
# deviation Keras 3 on widened inputs) disagree, we follow Keras 3. Each entry
# is checked both ways: it must still differ, and every other case must agree
# with tf_keras. Note that tf_keras agrees with both deviations: it computes
# top-k on float16/bfloat16/float64 scores, and compares large labels exactly.
TF_KERAS_DIFFERENCES = {
    # Keras 3 maps -0.0 to -tiny before argmax (so +0.0 wins); tf_keras does not.
    "categorical_accuracy/argmax_edge_rows",
    "categorical_accuracy/argmax_edge_rows_all_targets",
    "sparse_categorical_accuracy/argmax_edge_rows_target0",
    "sparse_categorical_accuracy/argmax_edge_rows_target1",
    # tf_keras casts y_pred to y_true's dtype for Accuracy; Keras 3 the reverse.
    "accuracy/true_float_pred_int",
    "accuracy/pred_float16_cast",
    # tf_keras fails to squeeze y_pred of shape (N, 1) for sparse labels of shape (N,).
    "sparse_categorical_accuracy/single_column",
    "sparse_categorical_accuracy/c1",
    # Keras 3 flushes float64 subnormals in this comparison; tf_keras does not.
    "binary_accuracy/subnormal_t0_float64",
    # A 0-d sample_weight: Keras 3 weighs the whole batch by it, tf_keras each sample
    # (seen from the second batch on).
    *(f"binary_accuracy/weight_0d_{k}" for k in ("numpy_float32", "numpy_float64", "list_float32", "array_float32")),
    *(f"{m}/{c}" for m in CLASSES for c in ("weight_0d_numpy_batches", "weight_0d_list_batches", "weight_0d_array_batches",
                                             "numpy_inputs_weight_0d")),
    # Keras 3 casts float labels to integer scores' dtype (truncating); tf_keras casts the argmax to the labels'.
    "sparse_categorical_accuracy/label_float_int32_scores",
    "sparse_categorical_accuracy/label_float_int64_scores",
    # tf_keras casts one-hot labels to the scores' dtype before its argmax; Keras 3 after.
    "categorical_accuracy/onehot_f64_soft_f32_scores",
    # tf_keras rejects a 0-d y_pred against N labels; Keras 3 broadcasts it.
    "accuracy/pred_0d_true_n",
    # tf_keras fails to squeeze y_pred of shape (N, 1) for top-k (as for sparse_categorical_accuracy/c1).
    "sparse_top_k_categorical_accuracy/c1_k1",
}


def _results(rec):
    return rec["batch"] + rec["cumulative"]


def _agree(a, b, atol=1e-6):
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict)
    if a != a or b != b:  # nan
        return a != a and b != b
    return abs(a - b) <= atol


def test_tf_keras_differences_are_exactly_the_documented_ones():
    differ = set()
    for c in ALL:
        if "unsupported" in c["tf_keras"]:
            continue
        if not all(_agree(a, b) for a, b in zip(_results(expected_for(c)), _results(c["tf_keras"]))):
            differ.add(c["id"])
    assert differ == TF_KERAS_DIFFERENCES


@pytest.mark.parametrize(
    "case", case_params([c for c in ALL if "unsupported" not in c["tf_keras"] and c["id"] not in TF_KERAS_DIFFERENCES])
)
def test_tf_keras_agrees(case):
    """The second reference: Keras 2's metric objects give the same results."""
    m = CLASSES[case["metric"]](**case["kwargs"])
    for i, batch in enumerate(case["batches"]):
        want = case["tf_keras"]["cumulative"][i]
        if isinstance(want, dict):
            continue  # an error in both; checked against Keras 3 above
        m.update_state(to_torch(batch["y_true"]), to_torch(batch["y_pred"]), to_torch(batch.get("sample_weight")))
        assert_value(m.result(), want, f"result() after batch {i} vs tf_keras")


def test_deviations_are_real():
    """Each documented deviation really differs from Keras 3 on the raw inputs."""
    devs = [c for c in ALL if c.get("deviation")]
    assert {c["deviation"] for c in devs} == {"label_precision", "topk_dtype", "int32_wrap", "topk_int"}
    for c in devs:
        assert c["keras3"] != c["reference"], c["id"]


def test_numpy_inputs_reach_our_code_as_numpy():
    """Inputs recorded "as": "numpy" are handed over as NumPy arrays, 0-d staying 0-d."""
    import numpy as np

    specs = [s for c in ALL for bt in c["batches"] for s in bt.values() if s and s["as"] == "numpy"]
    assert len(specs) > 50 and any(s["shape"] == [] for s in specs) and any(s["dtype"] == "bfloat16" for s in specs)
    for s in specs:
        if s["dtype"] == "bfloat16":
            pytest.importorskip("ml_dtypes")
        got = to_torch(s)
        assert isinstance(got, np.ndarray) and list(got.shape) == s["shape"] and got.dtype.name == s["dtype"]


def test_copies_keep_state():
    case = cases(id="sparse_categorical_accuracy/batches_mixed_weights")[0]
    m = tka.SparseCategoricalAccuracy()
    for batch in case["batches"]:
        m.update_state(to_torch(batch["y_true"]), to_torch(batch["y_pred"]), to_torch(batch.get("sample_weight")))
    import pickle

    for clone in (copy.deepcopy(m), pickle.loads(pickle.dumps(m)), m.clone()):
        assert_value(clone.result(), case["keras3"]["cumulative"][-1], "copy")
