"""The Triton kernels (torch_keras_acc/_triton.py) return bit for bit what the references return.

Without a GPU the kernels run on CPU tensors in Triton's interpreter (the wrappers
pick it per device; no ``TRITON_INTERPRET`` needed, see _triton_kernels.py); with
CUDA they run compiled on CUDA tensors and are compared with the CPU references.
Every test name contains ``triton``: ``pytest -k triton`` selects them.

The interpreter runs each program in Python, so inputs are small, and the block
sizes are shrunk (``small_blocks``) only where block and program boundaries are
the point: C = block + 1, several programs adding into one state.
"""

from __future__ import annotations

import os

import pytest
import torch

pytest.importorskip("triton", reason="the Triton kernels need triton")

try:  # the GPU machine may lack hypothesis: only the property test needs it
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:
    given = settings = st = None

import torch_keras_acc.functional as F  # noqa: E402
from torch_keras_acc import _triton as T  # noqa: E402
from torch_keras_acc import _triton_wrappers as TW  # noqa: E402
from torch_keras_acc._convert import to_tensor  # noqa: E402
from torch_keras_acc._reference import (  # noqa: E402
    argmax_last_reference as _argmax_last_reference,
    in_top_k_reference as _in_top_k_reference,
    invalid_count_reference,
    tf_argmax_reference as _tf_argmax_reference,
)
from torch_keras_acc._tf_rules import class_ids, label_index, squeeze_or_expand_to_same_rank  # noqa: E402
from tests.conftest import expected_for, parity, to_torch  # noqa: E402
from tests.test_fast_paths import FLOATS, _edge_scores, _special_values, _targets  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # CPU: interpreted


def _label_hits(labels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``labels == index``, exactly (the sparse kernels' comparison once Keras's label cast is applied)."""
    ids = class_ids(labels, torch.float64)
    return ids == index.to(ids.dtype)
INTS = [torch.int64, torch.int32, torch.uint8, torch.bool]
REFERENCE_ARGMAX = {True: _argmax_last_reference, False: _tf_argmax_reference}


def _scores(dtype: torch.dtype, shape: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """``_edge_scores``, and zeros for an empty shape."""
    return _edge_scores(dtype, shape, seed) if shape[0] * shape[1] else torch.zeros(shape, dtype=dtype)


def _dev(*xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(x.to(DEVICE) for x in xs)


def _same(got: torch.Tensor, want: torch.Tensor) -> None:
    """Bit for bit: dtype, shape and values (NaN equal to NaN)."""
    got = got.cpu()
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want.dtype, want.shape)
    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 4 columns, 4 rows per program (tile 16), 8 elements per element-wise program."""
    monkeypatch.setattr(T, "_MIN_BLOCK_C", 1)
    monkeypatch.setattr(T, "_MAX_BLOCK_C", 4)
    monkeypatch.setattr(T, "_TILE", 16)
    monkeypatch.setattr(T, "_BLOCK", 8)


def _states(weighted: bool = False) -> dict[str, torch.Tensor]:
    acc = torch.float64 if weighted else torch.int64
    return {
        "total_out": torch.zeros((), dtype=acc, device=DEVICE),
        "count_out": torch.zeros((), dtype=acc, device=DEVICE),
    }


def _weights(n: int, seed: int = 0) -> torch.Tensor:
    """Multiples of 1/8 (zeros included): every partial sum is exact, whatever the order."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 17, (n,), generator=gen).double() / 8


def _labels(n: int, c: int, dtype: torch.dtype, seed: int = 1) -> torch.Tensor:
    """Labels of ``dtype`` with out-of-range ones (and, for floats, non-integral, NaN, inf, -0.0)."""
    t = _targets(n, c, seed)
    if dtype == torch.bool:
        return t.clamp(0, 1).bool()
    if dtype == torch.uint8:
        return t.clamp(0, 255).to(torch.uint8)
    if not dtype.is_floating_point:
        return t.to(dtype)
    x = t.to(dtype)
    extras = [0.5, float("nan"), float("inf"), -float("inf"), -0.0, c - 0.5, -0.5, 1e30]
    for i, v in enumerate(extras[: n // 2]):
        x[2 * i] = v
    return x


# -- argmax -------------------------------------------------------------------------------
@pytest.mark.parametrize("keras3", [True, False], ids=["keras3", "tf"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(1, 1), (40, 2), (33, 5), (17, 9), (0, 3), (3, 0)], ids=str)
def test_triton_argmax_edge_values(keras3, dtype, shape):
    x = _scores(dtype, shape, seed=shape[-1])
    got = T.argmax(*_dev(x), keras3_zero_rule=keras3)
    _same(got, REFERENCE_ARGMAX[keras3](x))


@pytest.mark.parametrize("keras3", [True, False], ids=["keras3", "tf"])
@pytest.mark.parametrize("dtype", FLOATS + [torch.int64, torch.bool])
@pytest.mark.parametrize("c", [5, 9])
def test_triton_argmax_block_boundaries(keras3, dtype, c, small_blocks):
    """C = block + 1 and 2 * block + 1; 9 rows: three programs, the last one partial."""
    if dtype.is_floating_point:
        x = _edge_scores(dtype, (9, c), seed=c)
        x[7] = 0.0
        x[7, -1] = 1.0  # the maximum in the last block only
        x[8] = 1.0  # ties across blocks: the first index wins
    else:
        x = torch.randint(0, 3, (9, c), generator=torch.Generator().manual_seed(c)).to(dtype)
    _same(T.argmax(*_dev(x), keras3_zero_rule=keras3), REFERENCE_ARGMAX[keras3](x))


@pytest.mark.parametrize("dtype", INTS + [torch.int8, torch.int16])
def test_triton_argmax_integers(dtype):
    low = 0 if dtype in (torch.uint8, torch.bool) else -3
    x = torch.randint(low, 3, (31, 6), generator=torch.Generator().manual_seed(3)).to(dtype)
    if dtype == torch.int64:
        x[0] = -(2**63)  # the row of the smallest int64: the first index
        x[1, 2] = 2**63 - 1
    _same(T.argmax(*_dev(x)), _argmax_last_reference(x))


def test_triton_argmax_noncontiguous():
    x = _edge_scores(torch.float32, (12, 40))
    for view in (x.t(), x[:, ::3], x[::2, 1:]):  # read through strides, never copied
        _same(T.argmax(*_dev(view)), _argmax_last_reference(view))
    _same(T.argmax(*_dev(x.t())), _argmax_last_reference(x.t()))


def test_triton_argmax_signed_zero_rule():
    x = torch.tensor([[-0.0, 0.0, -1.0], [0.0, -0.0, -1.0], [float("nan"), 1.0, 1.0], [-1e-45, 1e-45, -1.0]])
    assert T.argmax(*_dev(x), keras3_zero_rule=True).tolist() == [1, 0, 1, 1]
    assert T.argmax(*_dev(x), keras3_zero_rule=False).tolist() == [0, 0, 1, 0]


def test_triton_rows_of_256k_classes(monkeypatch):
    """C = 2**18 + 3 (the issue's largest C, plus a ragged block). Blocks of 32k columns keep the
    interpreter fast; looping over blocks is what the small-block tests check."""
    monkeypatch.setattr(T, "_MAX_BLOCK_C", 1 << 15)
    monkeypatch.setattr(T, "_TILE", 1 << 16)
    c = 2**18 + 3
    x = torch.randn(3, c, generator=torch.Generator().manual_seed(0)).bfloat16()
    x[1, -1] = 100.0  # the maximum in the last, ragged block
    x[2, -2] = 50.0
    t = torch.tensor([c - 1, 7, c - 2])
    _same(T.argmax(*_dev(x)), _argmax_last_reference(x))
    _same(TW.in_top_k(*_dev(t, x), 1), _in_top_k_reference(t, x, 1))


# -- sparse argmax: hits and fused counts ----------------------------------------------------------
@pytest.mark.parametrize("score_dtype", FLOATS)
@pytest.mark.parametrize("label_dtype", INTS + [torch.float32, torch.float64, torch.float16])
def test_triton_sparse_argmax_hits(score_dtype, label_dtype):
    c = 7
    x = _edge_scores(score_dtype, (40, c), seed=5)
    labels = _labels(40, c, label_dtype)
    want = _label_hits(labels, _argmax_last_reference(x))
    _same(TW.sparse_argmax_hits(*_dev(x, labels)), want)


@pytest.mark.parametrize("label_dtype", [torch.int64, torch.uint8, torch.float32, torch.bfloat16])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_triton_sparse_argmax_count(label_dtype, weighted, small_blocks):
    c = 5
    x = _edge_scores(torch.float32, (9, c), seed=6)
    labels = _labels(9, c, label_dtype, seed=2)
    hits = _label_hits(labels, _argmax_last_reference(x))
    states = _states(weighted)
    invalid = torch.zeros((), dtype=torch.int64, device=DEVICE)
    w = _weights(9) if weighted else None
    TW.sparse_argmax_count(*_dev(x, labels), invalid_out=invalid, weight=None if w is None else w.to(DEVICE), **states)
    TW.sparse_argmax_count(*_dev(x, labels), invalid_out=invalid, weight=None if w is None else w.to(DEVICE), **states)  # adds
    if weighted:
        _same(states["total_out"], 2 * (hits.double() * w).sum())
        _same(states["count_out"], 2 * w.sum())
    else:
        _same(states["total_out"], 2 * hits.sum())
        _same(states["count_out"], torch.tensor(18))
    _same(invalid, 2 * invalid_count_reference(labels, c))


def test_triton_counts_into_float64_states_and_without_optional_ones():
    x = _edge_scores(torch.float32, (30, 4))
    labels = _targets(30, 4)
    total = torch.zeros((), dtype=torch.float64, device=DEVICE)
    TW.sparse_argmax_count(*_dev(x, labels), total)  # the metric's own float64 `total` state
    want = _label_hits(labels, _argmax_last_reference(x)).sum().double()
    _same(total, want)


def test_triton_weighted_nan_weight_poisons_the_total_as_the_reference_does():
    x = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    labels = torch.tensor([1, 1, 0])
    w = torch.tensor([1.0, float("nan"), 2.0])  # a miss with weight NaN: 0 * NaN is NaN
    states = _states(weighted=True)
    TW.sparse_argmax_count(*_dev(x, labels), weight=w.to(DEVICE), **states)
    assert torch.isnan(states["total_out"]).item() and torch.isnan(states["count_out"]).item()


def test_triton_invalid_count_compares_float_labels_exactly():
    """Float labels are judged exactly (``_tf_rules.invalid_labels`` widens them to float64):
    float16 label 2048 with C = 2049 is a valid class, although 2049 rounds to 2048 in float16."""
    c = 2049
    labels = torch.tensor([2048.0, 2049.0, 0.0, 1.5], dtype=torch.float16)  # 2049.0 rounds to 2048 in float16
    x = torch.zeros(4, c)
    invalid = torch.zeros((), dtype=torch.int64, device=DEVICE)
    TW.sparse_argmax_count(*_dev(x, labels), torch.zeros((), dtype=torch.int64, device=DEVICE), invalid)
    exact = labels.double()
    want = (~((exact >= 0) & (exact < c) & (exact == exact.trunc()))).sum()
    assert int(invalid) == int(want) == 1


# -- one-hot argmax ---------------------------------------------------------------------------------
@pytest.mark.parametrize("true_dtype", [torch.float32, torch.float16, torch.int64, torch.bool])
@pytest.mark.parametrize("pred_dtype", FLOATS)
def test_triton_onehot_argmax_hits(true_dtype, pred_dtype):
    x = _edge_scores(pred_dtype, (40, 6), seed=7)
    if true_dtype.is_floating_point:
        y = _edge_scores(true_dtype, (40, 6), seed=8)  # NaN, signed zeros, subnormals in y_true too
        y[::3] = torch.nn.functional.one_hot(torch.arange(0, 40, 3) % 6, 6).to(true_dtype)
    else:
        y = torch.nn.functional.one_hot(torch.arange(40) % 6, 6).to(true_dtype)
    want = _argmax_last_reference(y) == _argmax_last_reference(x)
    _same(TW.onehot_argmax_hits(*_dev(y, x)), want)


@pytest.mark.parametrize("ct,cp,weighted", [(5, 5, False), (3, 9, True), (9, 2, False), (1, 6, True)])
def test_triton_onehot_argmax_different_widths_and_counts(ct, cp, weighted, small_blocks):
    y = _edge_scores(torch.float32, (9, ct), seed=ct)
    x = _edge_scores(torch.bfloat16, (9, cp), seed=cp)
    hits = _argmax_last_reference(y) == _argmax_last_reference(x)
    _same(TW.onehot_argmax_hits(*_dev(y, x)), hits)
    states = _states(weighted)
    w = _weights(9, seed=ct) if weighted else None
    TW.onehot_argmax_count(*_dev(y, x), weight=None if w is None else w.to(DEVICE), **states)
    _same(states["total_out"], (hits.double() * w).sum() if weighted else hits.sum())
    _same(states["count_out"], w.sum() if weighted else torch.tensor(9))


# -- in_top_k ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("c", [1, 2, 3, 8])
def test_triton_in_top_k_edge_values(dtype, c):
    x = _edge_scores(dtype, (60, c), seed=c)
    t = _targets(60, c, seed=c)
    for k in (0, 1, 2, c + 1, 2**40):
        _same(TW.in_top_k(*_dev(t), *_dev(x), k), _in_top_k_reference(t, x, k))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.int64])
@pytest.mark.parametrize("c", [4, 5, 9])
def test_triton_in_top_k_block_boundaries(dtype, c, small_blocks):
    if dtype.is_floating_point:
        x = _edge_scores(dtype, (9, c), seed=c)
        x[7] = 1.0
        x[7, -1] = float("inf")  # the only non-finite score, in the last block
        x[8] = 2.0  # ties everywhere: a hit for any k >= 1
    else:
        x = torch.randint(-2, 3, (9, c), generator=torch.Generator().manual_seed(c))
    t = _targets(9, c, seed=c)
    t[7:] = c - 1
    for k in (1, c):
        _same(TW.in_top_k(*_dev(t, x), k), _in_top_k_reference(t, x, k))


def test_triton_in_top_k_subnormal_targets():
    """A target score that flushes to zero compares as the largest subnormal (float32 and float64)."""
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        fi = torch.finfo(dtype)
        smallest = fi.tiny * fi.eps
        x = torch.tensor(
            [[smallest, 0.0, -smallest, fi.tiny], [-0.0, smallest, fi.tiny - smallest, 1.0], [fi.tiny, smallest, -fi.tiny, 0.0]],
            dtype=torch.float64,
        ).to(dtype)
        for target in range(4):
            t = torch.full((3,), target)
            for k in (1, 2, 3):
                _same(TW.in_top_k(*_dev(t, x), k), _in_top_k_reference(t, x, k))


@pytest.mark.parametrize("label_dtype", [torch.int64, torch.uint8, torch.float32, torch.float64])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_triton_in_top_k_count(label_dtype, weighted, small_blocks):
    """The fused sparse top-k update: targets as ``_tf_rules.label_index`` makes them, invalid raw labels counted."""
    c, k = 5, 2
    x = _edge_scores(torch.float32, (9, c), seed=9)
    labels = _labels(9, c, label_dtype, seed=3)
    index = label_index(labels)
    hits = _in_top_k_reference(index, x, k)
    _same(TW.in_top_k(*_dev(labels, x), k), hits)
    states = _states(weighted)
    invalid = torch.zeros((), dtype=torch.int64, device=DEVICE)
    w = _weights(9, seed=4) if weighted else None
    TW.in_top_k_count(*_dev(labels, x), k, invalid_out=invalid, weight=None if w is None else w.to(DEVICE), **states)
    _same(states["total_out"], (hits.double() * w).sum() if weighted else hits.sum())
    _same(states["count_out"], w.sum() if weighted else torch.tensor(9))
    _same(invalid, invalid_count_reference(labels, c))


def test_triton_in_top_k_noncontiguous_and_empty():
    x = _edge_scores(torch.float32, (10, 30)).t()  # (30, 10), column-major
    t = _targets(60, 10)[::2]  # strided labels
    _same(TW.in_top_k(*_dev(t, x), 3), _in_top_k_reference(t, x, 3))
    for b, c in ((0, 4), (3, 0)):
        x, t = torch.zeros(b, c), torch.zeros(b, dtype=torch.int64)
        _same(TW.in_top_k(*_dev(t, x), 1), _in_top_k_reference(t, x, 1))


# -- binary and equality ----------------------------------------------------------------------------
THRESHOLDS = [0.5, 0.0, -0.0, 1.0, 1e-45, -1e-45, 1e-39, 2.0**-126, 5e-324, float("inf"), float("nan"), -2.0]


def _binary_true(n: int, dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    """Labels of ``dtype``: mostly 0/1, plus 0.5, NaN, -0.0 and subnormals that are not 0."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=gen)
    if not dtype.is_floating_point:
        return y.to(dtype)
    y = y.to(dtype)
    fi = torch.finfo(dtype)
    for i, v in enumerate([0.5, float("nan"), -0.0, fi.tiny * fi.eps, -fi.tiny * fi.eps, 2.0, 1.0 + fi.eps]):
        y[3 * i] = v
    return y


@pytest.mark.parametrize("pred_dtype", FLOATS + [torch.int64, torch.bool])
@pytest.mark.parametrize("true_dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool])
def test_triton_binary_hits(pred_dtype, true_dtype):
    if pred_dtype.is_floating_point:
        p = _special_values(pred_dtype).repeat(3)
    else:
        p = torch.randint(-1, 3, (60,), generator=torch.Generator().manual_seed(1)).to(pred_dtype)
    y = _binary_true(p.numel(), true_dtype)
    p, y = p[: y.numel()], y[: p.numel()]
    # Every threshold with float32 labels; the label dtype matters only for y_true == predicted.
    for threshold in THRESHOLDS if true_dtype == torch.float32 else [0.5, 0.0]:
        want = F.binary_accuracy.hits(y, p, threshold)
        _same(TW.binary_hits(*_dev(y, p), threshold), want)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_triton_binary_count_and_shapes(weighted, small_blocks):
    p = _special_values(torch.float32).repeat(2)[:37].reshape(37, 1)  # (N, 1): one element per sample
    y = _binary_true(37, torch.float32).reshape(37, 1)
    hits = F.binary_accuracy.hits(y, p, 0.5)
    _same(TW.binary_hits(*_dev(y, p), 0.5), hits)
    _same(TW.binary_hits(*_dev(y.t(), p.t()), 0.5), hits.t())  # a (1, N) view
    states = _states(weighted)
    w = _weights(37) if weighted else None
    TW.binary_count(*_dev(y, p), 0.5, weight=None if w is None else w.to(DEVICE), **states)
    _same(states["total_out"], (hits.reshape(-1).double() * w).sum() if weighted else hits.sum())
    _same(states["count_out"], w.sum() if weighted else torch.tensor(37))


EQUAL_PAIRS = [
    (torch.float32, torch.float32),
    (torch.float32, torch.float64),  # exact widening, in the kernel
    (torch.float64, torch.float32),  # rounding: cast by torch first
    (torch.float16, torch.float16),
    (torch.bfloat16, torch.bfloat16),
    (torch.float16, torch.float32),
    (torch.float32, torch.bfloat16),
    (torch.float64, torch.float16),
    (torch.int64, torch.float32),
    (torch.uint8, torch.float16),
    (torch.bool, torch.float32),
    (torch.int64, torch.int64),
    (torch.int32, torch.int64),
    (torch.bool, torch.bool),
    (torch.int64, torch.bool),
]


@pytest.mark.parametrize("true_dtype,pred_dtype", EQUAL_PAIRS, ids=str)
def test_triton_equal_hits(true_dtype, pred_dtype):
    gen = torch.Generator().manual_seed(2)
    if true_dtype.is_floating_point and pred_dtype.is_floating_point:
        pool = torch.cat([_special_values(true_dtype).double(), _special_values(pred_dtype).double(), torch.tensor([3.0, 1 / 3])])
        y = pool[torch.randint(0, len(pool), (200,), generator=gen)].to(true_dtype)
        p = pool[torch.randint(0, len(pool), (200,), generator=gen)].to(pred_dtype)
        p[:100] = y[:100].to(pred_dtype)  # many equal pairs, subnormal ones included
    else:
        y = torch.randint(-1, 3, (200,), generator=gen).to(true_dtype)
        p = torch.randint(-1, 3, (200,), generator=gen).to(pred_dtype)
    if true_dtype.is_floating_point and not pred_dtype.is_floating_point:
        y = y.nan_to_num(0.0, 0.0, 0.0)  # float -> int casts of NaN/inf differ between devices
    _same(TW.equal_hits(*_dev(y, p)), F.accuracy.hits(y, p))


def test_triton_equal_count(small_blocks):
    y = torch.tensor([1.0, 2.0, 1e-45, -1e-45, float("nan"), 0.0, 3.0, 5.0, 1.0, 2.0, 4.0])
    p = torch.tensor([1.0, 2.5, 0.0, 1e-40, float("nan"), -0.0, 3.0, 5.0, 0.0, 2.0, 4.0])
    hits = F.accuracy.hits(y, p)
    states = _states()
    TW.equal_count(*_dev(y, p), **states)
    _same(states["total_out"], hits.sum())
    _same(states["count_out"], torch.tensor(11))


# -- Keras's own answers (the parity fixtures) --------------------------------------------------------
def _fixture_inputs(metric: str, kwargs: dict, y_true: torch.Tensor, y_pred: torch.Tensor) -> tuple | None:
    """A fixture batch as the wrappers take it: (group key, y_true rows, y_pred rows), or None
    where the wrappers do not take that shape (rank alignment and broadcasting stay with the caller)."""
    c = y_pred.shape[-1] if y_pred.ndim else 0
    rows = y_pred.numel() // c if c else 0
    key: tuple = (metric, tuple(sorted(kwargs.items())), y_true.dtype, y_pred.dtype)
    if metric in ("sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy"):
        if y_pred.ndim < 2 or c == 0 or y_true.numel() != rows or kwargs.get("from_sorted_ids"):
            return None
        labels = y_true.reshape(rows)
        if metric == "sparse_categorical_accuracy":  # Keras's label cast is the caller's (as in the fused update)
            labels = class_ids(labels, y_pred.dtype)
        return (*key, c), labels, y_pred.reshape(rows, c)
    if metric in ("categorical_accuracy", "top_k_categorical_accuracy"):
        if y_pred.ndim < 2 or y_true.ndim != y_pred.ndim or y_true.shape[:-1] != y_pred.shape[:-1] or c == 0:
            return None
        return (*key, c, y_true.shape[-1]), y_true.reshape(rows, y_true.shape[-1]), y_pred.reshape(rows, c)
    if metric in ("binary_accuracy", "accuracy"):
        if metric == "accuracy":
            y_true = y_true.to(y_pred.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        if y_true.shape != y_pred.shape:
            return None
        return key, y_true.reshape(-1), y_pred.reshape(-1)
    return None


def _fixture_hits(key: tuple, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    metric, kwargs = key[0], dict(key[1])
    if metric == "sparse_categorical_accuracy":
        return TW.sparse_argmax_hits(*_dev(y_pred, y_true))
    if metric == "sparse_top_k_categorical_accuracy":
        return TW.in_top_k(*_dev(y_true, y_pred), kwargs.get("k", 5))
    if metric == "categorical_accuracy":
        return TW.onehot_argmax_hits(*_dev(y_true, y_pred))
    if metric == "top_k_categorical_accuracy":
        one_hot = y_true.to(y_pred.dtype) if y_pred.is_floating_point() else y_true  # Keras casts before its argmax
        return TW.in_top_k(T.argmax(*_dev(one_hot)), *_dev(y_pred), kwargs.get("k", 5))
    if metric == "accuracy":
        return TW.equal_hits(*_dev(y_true, y_pred))
    return TW.binary_hits(*_dev(y_true, y_pred), kwargs.get("threshold", 0.5))


def test_triton_kernels_give_keras_answers_on_the_parity_fixtures():
    """Every fixture batch the wrappers take directly, against Keras's per-sample answers.

    Batches of the same metric, arguments, dtypes and C are concatenated into one call
    (the interpreter's cost is per call); a mismatch names the fixture cases."""
    groups: dict[tuple, list] = {}
    for case in parity()["cases"]:
        for i, (batch, want) in enumerate(zip(case["batches"], expected_for(case)["fn"])):
            if "error" in want:
                continue
            y_true = to_tensor(to_torch(batch["y_true"]), "y_true", case["metric"])
            y_pred = to_tensor(to_torch(batch["y_pred"]), "y_pred", case["metric"])
            item = _fixture_inputs(case["metric"], case["kwargs"], y_true, y_pred)
            if item is not None:
                key, t, p = item
                groups.setdefault(key, []).append((f"{case['id']} batch {i}", t, p, torch.tensor(want["data"]).flatten()))
    assert sum(len(v) for v in groups.values()) > 300  # most of the fixtures are checked
    for key, items in groups.items():
        got = _fixture_hits(key, torch.cat([t for _, t, _, _ in items]), torch.cat([p for _, _, p, _ in items])).cpu()
        start = 0
        for name, _, p, want in items:
            rows = want.numel()
            assert got[start : start + rows].float().tolist() == want.tolist(), name
            start += rows


# -- properties ---------------------------------------------------------------------------------------
def _property(dtype, b, c, k, seed):
    """Random small batches of edge values: argmax (both rules), sparse hits and counts, in_top_k."""
    x = _scores(dtype, (b, c), seed=seed)
    labels = _targets(b, c, seed=seed + 1)
    for keras3 in (True, False):
        _same(T.argmax(*_dev(x), keras3_zero_rule=keras3), REFERENCE_ARGMAX[keras3](x))
    hits = _label_hits(labels, _argmax_last_reference(x))
    _same(TW.sparse_argmax_hits(*_dev(x, labels)), hits)
    total, invalid = torch.zeros((), dtype=torch.int64, device=DEVICE), torch.zeros((), dtype=torch.int64, device=DEVICE)
    TW.sparse_argmax_count(*_dev(x, labels), total, invalid)
    assert int(total) == int(hits.sum()) and int(invalid) == int(invalid_count_reference(labels, c))
    _same(TW.in_top_k(*_dev(labels, x), k), _in_top_k_reference(labels, x, k))


if given is not None:
    test_triton_property_rows_match_references = settings(max_examples=25, deadline=None)(
        given(
            dtype=st.sampled_from(FLOATS),
            b=st.integers(0, 7),
            c=st.integers(1, 9),
            k=st.integers(-1, 10),
            seed=st.integers(0, 2**16),
        )(_property)
    )
else:

    @pytest.mark.skip(reason="needs hypothesis")
    def test_triton_property_rows_match_references():
        pass


# -- bad input ----------------------------------------------------------------------------------------
def test_triton_bad_input_raises_clear_errors():
    x, labels = torch.zeros(4, 3, device=DEVICE), torch.zeros(4, dtype=torch.int64, device=DEVICE)
    with pytest.raises(ValueError, match=r"triton argmax: x2d of shape \(4, 3, 1\) must have 2"):
        T.argmax(x.unsqueeze(-1))
    with pytest.raises(ValueError, match=r"sparse_argmax_hits: labels1d of shape \(3,\) must have one entry per row \(4 rows\)"):
        TW.sparse_argmax_hits(x, labels[:3])
    with pytest.raises(TypeError, match="in_top_k: k must be an int"):
        TW.in_top_k(labels, x, 2.0)
    with pytest.raises(TypeError, match="scores2d has dtype torch.complex64"):
        TW.in_top_k(labels, x.to(torch.complex64), 1)
    with pytest.raises(ValueError, match="total_out must be a 0-d tensor of dtype torch.int64 or torch.float64"):
        TW.sparse_argmax_count(x, labels, torch.zeros(1, device=DEVICE))
    with pytest.raises(ValueError, match="total_out must be a 0-d tensor of dtype torch.float64"):
        TW.sparse_argmax_count(x, labels, torch.zeros((), dtype=torch.int64, device=DEVICE), weight=torch.ones(4, device=DEVICE))
    with pytest.raises(ValueError, match=r"weight of shape \(\) must hold one value per sample \(4,\)"):
        total = torch.zeros((), dtype=torch.float64, device=DEVICE)
        TW.in_top_k_count(labels, x, 1, total, weight=torch.tensor(2.0, device=DEVICE))
    with pytest.raises(ValueError, match=r"binary_hits: y_true of shape \(4,\) and y_pred of shape \(4, 3\) must have the same"):
        TW.binary_hits(labels, x)
    with pytest.raises(ValueError, match="the Triton kernels run on CUDA tensors"):
        T.argmax(torch.zeros(2, 2, device="meta"))


# -- the compiled path, without a GPU -------------------------------------------------------------------
_TRITON_TYPES = {
    torch.float16: "fp16", torch.bfloat16: "bf16", torch.float32: "fp32", torch.float64: "fp64",
    torch.int8: "i8", torch.int16: "i16", torch.int32: "i32", torch.int64: "i64", torch.uint8: "u8",
}


class _Recorder:
    """Stands in for a kernel: records the launch arguments instead of running."""

    def __init__(self, name: str, calls: list) -> None:
        self.name, self.calls = name, calls

    def __getitem__(self, grid: tuple):
        return lambda *args, **constexprs: self.calls.append((self.name, args, constexprs))


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the other tests compile every kernel for real")
@pytest.mark.filterwarnings("ignore:TRITON_DEFAULT_FP_FUSION")
def test_triton_kernels_compile_for_cuda_without_a_gpu(monkeypatch):
    """What the interpreter cannot check: the kernels, with the very arguments the wrappers
    pass, compile for sm_90 (Triton's frontend, LLVM and ptxas, all on the CPU)."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from torch_keras_acc import _triton_kernels as compiled

    interpreted = os.environ.get("TRITON_INTERPRET") == "1" or not hasattr(compiled.argmax_kernel, "cache_key")
    if interpreted or not hasattr(compiled.argmax_kernel, "arg_names") or "nvidia" not in getattr(triton.backends, "backends", {}):
        pytest.skip("needs triton's NVIDIA backend, and TRITON_INTERPRET unset")
    calls: list = []
    recorders = {k: _Recorder(k, calls) for k in dir(compiled) if k.endswith("_kernel")}
    monkeypatch.setattr(T, "_kernels", lambda name, device: type("Kernels", (), recorders))
    x, labels, w = torch.randn(8, 5), torch.randint(0, 5, (8,)), torch.ones(8, dtype=torch.float64)
    f64 = lambda: torch.zeros((), dtype=torch.float64)  # noqa: E731
    i64 = lambda: torch.zeros((), dtype=torch.int64)  # noqa: E731
    # Each compile takes seconds (cold cache): by default the two kernels that use every
    # helper and both reductions; TKA_TRITON_COMPILE_ALL=1 adds one call per other kernel.
    TW.sparse_argmax_count(x.bfloat16(), labels, i64(), i64(), count_out=i64())
    TW.in_top_k_count(labels.double(), x.double(), 2, f64(), i64(), count_out=f64(), weight=w.float())
    if os.environ.get("TKA_TRITON_COMPILE_ALL") == "1":
        T.argmax(x, keras3_zero_rule=False)
        TW.onehot_argmax_count(x.half(), x, f64(), count_out=f64(), weight=w)
        TW.binary_count(labels.bool(), x[:, 0].double(), 0.5, i64(), count_out=i64())
        TW.equal_hits(x.bfloat16(), x.bfloat16())
    for name, args, constexprs in calls:
        fn = getattr(compiled, name)
        signature = {}
        for arg_name, value in zip(fn.arg_names, args):
            if isinstance(value, torch.Tensor):
                signature[arg_name] = "*" + _TRITON_TYPES[value.dtype]
            else:
                signature[arg_name] = "i32" if -(2**31) <= value < 2**31 else "i64"
        signature.update({key: "constexpr" for key in constexprs})
        kernel = triton.compile(ASTSource(fn, signature, constexprs=constexprs), target=GPUTarget("cuda", 90, 32))
        assert ".entry" in kernel.asm["ptx"], name


def test_triton_module_imports_without_triton(monkeypatch):
    """``import torch_keras_acc._triton`` never fails: without triton, AVAILABLE is False and
    the wrappers raise RuntimeError (loaded here as a separate module object, triton hidden)."""
    import importlib.util
    import sys

    for name in ("triton", "triton.language"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import triton` raise ImportError
    spec = importlib.util.spec_from_file_location("tka_triton_without_triton", T.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.AVAILABLE is False
    x = torch.zeros(2, 3)
    for call in (
        lambda: module.argmax(x),
        lambda: module.topk("t", torch.zeros(2, dtype=torch.int64), x, 1, None, hits=True),
        lambda: module.binary("b", x, x, 0.5, None, hits=True),
    ):
        with pytest.raises(RuntimeError, match="need triton, which is not installed"):
            call()


# -- on a GPU only: no host sync, one launch ------------------------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_triton_counts_on_cuda_never_sync_and_launch_one_kernel():
    cuda = torch.device("cuda")
    x, labels = torch.randn(300, 17, device=cuda), torch.randint(-1, 18, (300,), device=cuda)
    total, count, invalid = (torch.zeros((), dtype=torch.int64, device=cuda) for _ in range(3))
    y, p = torch.randint(0, 2, (300,), device=cuda).float(), torch.rand(300, device=cuda)
    w = torch.rand(300, device=cuda)
    wt, wc = torch.zeros((), dtype=torch.float64, device=cuda), torch.zeros((), dtype=torch.float64, device=cuda)
    updates = [
        lambda: TW.sparse_argmax_count(x, labels, total, invalid, count_out=count),
        lambda: TW.in_top_k_count(labels, x, 5, total, invalid, count_out=count),
        lambda: TW.onehot_argmax_count(x, x, total, count_out=count),
        lambda: TW.binary_count(y, p, 0.5, total, count_out=count),
        lambda: TW.equal_count(y, y, wt, count_out=wc, weight=w),
    ]
    for update in updates:
        update()  # compile first (compiling may sync)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for update in updates:
            update()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    for update in updates:
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            update()
            torch.cuda.synchronize()
        kernels = [e.name for e in prof.events() if e.device_type == DeviceType.CUDA]
        if not kernels:
            pytest.skip("the profiler saw no CUDA kernel (no CUPTI?)")
        assert len(kernels) == 1, kernels
