"""Keras's answers on the triton path: every parity fixture case, through the metric classes.

The same check as tests/test_parity.py's ``test_keras_spelling``, inside
``kernel_path("triton")`` (CPU tensors: the kernels interpreted): batches the fused
update takes run as one launch into the states, the others fall back to the reference;
each result must be Keras's, and a bad batch must leave the state alone.
Every test name contains ``triton``.
"""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("triton", reason="the Triton kernels need triton")

import torch_keras_acc as tka  # noqa: E402
from tests.conftest import CLASSES, assert_value, expected_for, parity, to_torch  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore::torch_keras_acc.KerasPitfallWarning"),
    pytest.mark.filterwarnings(r"ignore:.*label\(s\) were not integers:UserWarning"),
]


def test_triton_metrics_give_keras_answers_on_the_parity_fixtures():
    fused = 0
    for case in parity()["cases"]:
        want = expected_for(case)
        m = CLASSES[case["metric"]](**case["kwargs"])
        for i, batch in enumerate(case["batches"]):
            args = to_torch(batch["y_true"]), to_torch(batch["y_pred"]), to_torch(batch.get("sample_weight"))
            with tka.kernel_path("triton") as log:
                if isinstance(want["cumulative"][i], dict):
                    before = (m.total.clone(), m.count.clone(), m.invalid.clone())
                    with pytest.raises((ValueError, TypeError), match=case["metric"]):
                        m.update_state(*args)
                    assert all(torch.equal(a, b) for a, b in zip(before, (m.total, m.count, m.invalid))), case["id"]
                    m.reset_state()
                    continue
                m.update_state(*args)
            fused += any(k.startswith("fused") for k in log.used)
            assert_value(m.result(), want["cumulative"][i], f"{case['id']}: result() after batch {i}")
    assert fused > 100, fused  # most fixture batches take the fused update
