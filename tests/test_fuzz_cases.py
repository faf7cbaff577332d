"""Replay of the differential fuzzer's finds: every case of tests/fixtures/keras_fuzz.json.

tests/fixtures/fuzz.py (run by hand against live Keras 3 on TensorFlow) writes
the shrunk examples where we disagreed with Keras to fuzz_found.json;
tests/fixtures/generate.py runs each through Keras 3 and tf_keras and writes
keras_fuzz.json. No TensorFlow here. The checks are test_parity.py's, with its
helpers from conftest: per-sample outputs exactly, results within 1e-6 (1e-2
for float16/bfloat16 result dtypes), and where Keras raises, a ValueError or
TypeError naming the metric. Inputs keep the kind the fuzzer drew (tensor,
NumPy array incl. 0-d and bfloat16, or list).
"""

from __future__ import annotations

import json
from functools import lru_cache

import pytest
import torch

import torch_keras_acc as tka
from torch_keras_acc import functional as F
from tests.conftest import CLASSES, FIXTURES, assert_value, expected_for, to_torch

BAD_INPUT = (ValueError, TypeError)

pytestmark = [
    pytest.mark.filterwarnings("ignore::torch_keras_acc.KerasPitfallWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


@lru_cache(maxsize=None)
def fuzz_doc() -> dict:
    path = FIXTURES / "keras_fuzz.json"
    return json.loads(path.read_text()) if path.exists() else {"fuzz": {}, "cases": [], "evaluate": []}


CASES = fuzz_doc()["cases"]
EVALUATE = fuzz_doc()["evaluate"]
AUX = fuzz_doc().get("aux", [])  # ignore_index examples and masked model.evaluate runs


def _atol(case: dict) -> float:
    return 1e-2 if case["kwargs"].get("dtype") in ("float16", "bfloat16") else 1e-6


def _args(batch: dict) -> tuple:
    return to_torch(batch["y_true"]), to_torch(batch["y_pred"]), to_torch(batch.get("sample_weight"))


def test_fuzz_metadata():
    """The last fuzz run's counts are recorded beside its finds."""
    run = fuzz_doc()["fuzz"]
    if not run:
        pytest.skip("no keras_fuzz.json yet")
    assert run["examples_tried"] >= 1 and run["evaluate_runs"] >= 0
    # every case is a find of this run or of an earlier one (a clean last run keeps the earlier finds)
    runs = [run, *fuzz_doc().get("earlier_runs", [])]
    found = sum(r["examples_failed"] + r["evaluate_failed"] + r.get("aux_failed", 0) for r in runs)
    assert found >= (1 if CASES or EVALUATE or AUX else 0)
    assert fuzz_doc()["versions"]["keras_backend"] == "tensorflow"


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_functional(case):
    fn = getattr(F, case["metric"])
    kwargs = {k: v for k, v in case["kwargs"].items() if k != "dtype"}
    for i, (batch, want) in enumerate(zip(case["batches"], expected_for(case)["fn"])):
        yt, yp, _ = _args(batch)
        if "error" in want:
            with pytest.raises(BAD_INPUT, match=case["metric"]):
                fn(yt, yp, **kwargs)
            continue
        got = fn(yt, yp, **kwargs)
        assert got.dtype == torch.float32
        assert list(got.shape) == want["shape"], f"batch {i}: shape"
        assert got.flatten().tolist() == torch.tensor(want["data"]).flatten().tolist(), f"batch {i}"


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_keras_spelling(case):
    """update_state(y_true, y_pred, sample_weight) then result(), after each batch."""
    want = expected_for(case)
    m = CLASSES[case["metric"]](**case["kwargs"])
    for i, batch in enumerate(case["batches"]):
        if isinstance(want["cumulative"][i], dict):
            before = (m.total.clone(), m.count.clone())
            with pytest.raises(BAD_INPUT, match=case["metric"]):
                m.update_state(*_args(batch))
            assert torch.equal(before[0], m.total) and torch.equal(before[1], m.count), "a failed update changed the state"
            m.reset_state()
            continue
        m.update_state(*_args(batch))
        assert_value(m.result(), want["cumulative"][i], f"result() after batch {i}", _atol(case))


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_torchmetrics_spelling(case):
    """forward(preds, target) returns the batch value; compute() the running one."""
    want = expected_for(case)
    m = CLASSES[case["metric"]](**case["kwargs"])
    for i, batch in enumerate(case["batches"]):
        yt, yp, sw = _args(batch)
        if isinstance(want["batch"][i], dict):
            with pytest.raises(BAD_INPUT, match=case["metric"]):
                m(yp, yt, sample_weight=sw)
            m.reset()
            continue
        assert_value(m(yp, yt, sample_weight=sw), want["batch"][i], f"forward() on batch {i}", _atol(case))
        assert_value(m.compute(), want["cumulative"][i], f"compute() after batch {i}", _atol(case))


@pytest.mark.parametrize("ev", [pytest.param(e, id=e["id"]) for e in EVALUATE])
def test_evaluate(ev):
    """KerasAccuracy fed model.evaluate's batches gives what the compiled model reported."""
    want = expected_for(ev)
    yt, yp = to_torch(ev["y_true"]), to_torch(ev["y_pred"])
    m = tka.KerasAccuracy()
    bs = ev["batch_size"]

    def run():
        for i in range(0, yp.shape[0], bs):
            m.update_state(yt[i:i + bs], yp[i:i + bs])

    if "error" in want:
        with pytest.raises(BAD_INPUT, match="accuracy"):
            run()
        return
    run()
    assert m.variant.__name__ == want["class"]
    assert_value(m.result(), want["value"], f"evaluate(batch_size={bs})")


@pytest.mark.parametrize("ev", [pytest.param(e, id=e["id"]) for e in AUX if e["kind"] == "ignore_index"])
def test_ignore_index(ev):
    """ignore_index=-100 gives Keras's running result on the tokens that remain."""
    m = CLASSES[ev["metric"]](ignore_index=-100, **ev["kwargs"])
    for i, batch in enumerate(ev["batches"]):
        m.update_state(*_args(batch))
        assert_value(m.result(), ev["keras3"][i], f"result() after batch {i}")


@pytest.mark.parametrize("ev", [pytest.param(e, id=e["id"]) for e in AUX if e["kind"] == "masked" and "value" in e["keras3"]])
def test_masked_evaluate(ev):
    """mask= with the mask Keras computed for the model's output gives model.evaluate's value."""
    want = ev["keras3"]
    cls = tka.KerasAccuracy if ev["metric"] == "accuracy" else CLASSES[ev["metric"]]
    m = cls(**ev["kwargs"])
    yt, yp, mask, sw = to_torch(ev["y_true"]), to_torch(want["y_pred"]), to_torch(want["mask"]), to_torch(ev.get("sample_weight"))
    bs = ev["batch_size"]
    for i in range(0, yp.shape[0], bs):
        m.update_state(yt[i:i + bs], yp[i:i + bs], sample_weight=None if sw is None else sw[i:i + bs], mask=mask[i:i + bs])
    assert_value(m.result(), want["value"], f"evaluate(batch_size={bs})")
