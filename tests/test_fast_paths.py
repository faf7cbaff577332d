"""The fast paths of ``argmax_last``, ``tf_argmax`` and ``in_top_k`` agree bit for bit with the reference.

The references (``_argmax_last_reference``, ``_tf_argmax_reference``,
``_in_top_k_reference``) are the
plain, branch-free definitions; every input here is drawn to hit the rules
that differ from stock PyTorch: ties, NaN, infinities, signed zeros,
subnormals, out-of-range targets, every float dtype, rank 3, and chunk
boundaries (tiny chunk sizes, set through ``kernel_path``).
"""

from __future__ import annotations

import importlib.util
import warnings

import pytest
import torch

import torch_keras_acc as tka
import torch_keras_acc.functional as F
from torch_keras_acc import _dispatch, _reference
from torch_keras_acc._reduction import weighted_sums
from torch_keras_acc._tf_rules import flush_subnormal, threshold_operand
from tests.conftest import case_params, cases, to_torch

FLOATS = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
INTS = [torch.int32, torch.int64, torch.uint8, torch.bool]


def _special_values(dtype: torch.dtype) -> torch.Tensor:
    """Every value whose handling differs between TensorFlow and PyTorch, in ``dtype``,
    plus the subnormal edges of float32 (flushed once a 16-bit value is widened)."""
    values = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.0, -1.0, 0.5, 2.0]
    for fi in (torch.finfo(dtype), torch.finfo(torch.float32)):
        smallest = fi.tiny * fi.eps
        values += [fi.tiny, -fi.tiny, smallest, -smallest, fi.tiny - smallest, -(fi.tiny - smallest), fi.max, -fi.max]
    return torch.tensor(values, dtype=torch.float64).to(dtype)


def _edge_scores(dtype: torch.dtype, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Scores drawn from the special values (plenty of ties with so few values),
    plus rows that are all NaN, all -inf, all zeros of mixed sign, all subnormal."""
    gen = torch.Generator().manual_seed(seed)
    pool = _special_values(dtype)
    x = pool[torch.randint(0, len(pool), shape, generator=gen)]
    flat = x.reshape(-1, shape[-1])
    fi = torch.finfo(dtype)
    specials = [float("nan"), -float("inf"), -0.0, 0.0, fi.tiny * fi.eps, -fi.tiny * fi.eps]
    for row, value in enumerate(specials):
        if row < flat.shape[0]:
            flat[row] = value
    if flat.shape[0] > len(specials) and shape[-1] > 1:
        flat[len(specials), ::2] = -0.0  # -0.0 and +0.0 alternating
        flat[len(specials), 1::2] = 0.0
    return x


def _targets(n: int, c: int, seed: int = 1) -> torch.Tensor:
    """Class indices including out-of-range ones on both sides."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-2, c + 2, (n,), generator=gen)


@pytest.fixture(params=["default", "tiny_chunks", "small_inputs"])
def chunks(request):
    """Run each test with the real sizes, with tiny chunks (many ragged ones) on the
    large-input path, and with every input taking the small-input path."""
    sizes = {"default": {}, "tiny_chunks": {"chunk_elements": 7, "small_elements": 0}, "small_inputs": {"small_elements": 1 << 30}}
    with tka.kernel_path(**sizes[request.param]):
        yield request.param


# -- argmax ---------------------------------------------------------------------
# Keras 3's argmax and TensorFlow's own (legacy.py's Keras 2.2 kernels), each against its reference.
ARGMAXES = [
    pytest.param(_dispatch.argmax_last, _reference.argmax_last_reference, id="argmax_last"),
    pytest.param(_dispatch.tf_argmax, _reference.tf_argmax_reference, id="tf_argmax"),
]


@pytest.mark.parametrize("argmax,reference", ARGMAXES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(200, 1), (200, 2), (300, 5), (6, 7, 4), (9,), (1500, 3)], ids=str)  # 1500 rows: the two-op min |x|
def test_argmax_fast_matches_reference_on_edge_values(argmax, reference, dtype, shape, chunks):
    x = _edge_scores(dtype, shape)
    got = argmax(x)
    assert torch.equal(got, reference(x))
    assert got.dtype == torch.int64 and got.shape == x.shape[:-1]


@pytest.mark.parametrize("argmax,reference", ARGMAXES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_argmax_fast_matches_reference_on_ordinary_scores(argmax, reference, dtype, chunks):
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(97, 33, generator=gen).to(dtype)
    x[::5, 3] = x[::5].amax(dim=1)  # exact ties with the maximum
    x[1::5, 0] = 0.0  # a zero in some rows: the small-input path's whole-tensor check fails
    assert torch.equal(argmax(x), reference(x))


@pytest.mark.parametrize("argmax,reference", ARGMAXES)
@pytest.mark.parametrize("dtype", INTS)
def test_argmax_fast_matches_reference_on_integers(argmax, reference, dtype):
    gen = torch.Generator().manual_seed(3)
    low = 0 if dtype in (torch.uint8, torch.bool) else -3
    x = torch.randint(low, 3, (50, 6, 5), generator=gen).to(dtype)
    assert torch.equal(argmax(x), reference(x))


@pytest.mark.parametrize("argmax,reference", ARGMAXES)
def test_argmax_noncontiguous_input(argmax, reference):
    x = _edge_scores(torch.float32, (40, 12)).t()  # a transposed view
    assert torch.equal(argmax(x), reference(x))


@pytest.mark.parametrize("argmax,reference", ARGMAXES)
def test_argmax_empty_inputs_take_the_reference(argmax, reference):
    for x in (torch.zeros(0, 3), torch.zeros(4, 0), torch.zeros(2, 0, 5)):
        assert torch.equal(argmax(x), reference(x))


def test_the_two_argmaxes_differ_only_on_signed_zeros():
    """Keras 3's -0.0 rule is the whole difference (so legacy.py keeps Keras 2.2's answer)."""
    x = torch.tensor([[-0.0, 0.0, -1.0], [0.0, -0.0, -1.0], [float("nan"), 1.0, 1.0]])
    assert _dispatch.argmax_last(x).tolist() == [1, 0, 1]
    assert _dispatch.tf_argmax(x).tolist() == [0, 0, 1]


# -- in_top_k -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("c", [1, 2, 3, 8])
@pytest.mark.parametrize("k", [0, 1, 2, 5])
def test_in_top_k_fast_matches_reference_on_edge_values(dtype, c, k, chunks):
    x = _edge_scores(dtype, (300, c), seed=c)
    t = _targets(300, c, seed=k)
    got = _dispatch.in_top_k(t, x, k)
    assert torch.equal(got, _reference.in_top_k_reference(t, x, k))
    assert got.dtype == torch.bool


@pytest.mark.parametrize("dtype", FLOATS)
def test_in_top_k_fast_matches_reference_on_ordinary_scores(dtype, chunks):
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(120, 40, generator=gen).to(dtype)
    x[::3, 7] = x[::3, 8]  # ties with the target
    t = torch.full((120,), 8)
    t[1::2] = torch.randint(0, 40, (60,), generator=gen)
    for k in (1, 5, 40, 41):
        assert torch.equal(_dispatch.in_top_k(t, x, k), _reference.in_top_k_reference(t, x, k))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_in_top_k_row_sum_overflow_is_not_a_non_finite_row(dtype):
    # The fast finiteness test sums rows; an overflowing sum must fall back to the exact test.
    big = torch.finfo(dtype).max
    x = torch.tensor([[big, big, 1.0], [big, -big, 0.0], [big, big, float("inf")], [1.0, 2.0, 3.0]], dtype=dtype)
    t = torch.tensor([0, 2, 1, 2])
    got = _dispatch.in_top_k(t, x, 2)
    assert torch.equal(got, _reference.in_top_k_reference(t, x, 2))
    assert got[0] and not got[2]  # overflowing but finite; truly infinite


def test_in_top_k_integer_scores_take_the_reference():
    x = torch.randint(-3, 3, (30, 4))
    t = _targets(30, 4)
    assert torch.equal(_dispatch.in_top_k(t, x, 2), _reference.in_top_k_reference(t, x, 2))


def test_in_top_k_whole_matches_chunked_reference(chunks):
    # ``_in_top_k_whole`` is what runs (compiled) on CUDA.
    for dtype in FLOATS:
        x = _edge_scores(dtype, (64, 5))
        t = _targets(64, 5)
        assert torch.equal(_reference.in_top_k_whole(t, x, 2), _reference.in_top_k_reference(t, x, 2))


# -- the public kernels on the parity fixtures ---------------------------------
ARGMAX_AND_TOP_K_KERNELS = (
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
)
ARGMAX_AND_TOP_K = [c for name in ARGMAX_AND_TOP_K_KERNELS for c in cases(metric=name)]


@pytest.mark.parametrize("case", case_params(ARGMAX_AND_TOP_K))
def test_functional_fast_equals_reference_on_fixtures(case):
    fn = getattr(F, case["metric"])
    fast = []
    for batch in case["batches"]:
        try:
            fast.append(fn(to_torch(batch["y_true"]), to_torch(batch["y_pred"]), **case["kwargs"]))
        except (ValueError, TypeError) as err:
            fast.append(type(err))
    with tka.kernel_path("reference"):
        for batch, want in zip(case["batches"], fast):
            args = to_torch(batch["y_true"]), to_torch(batch["y_pred"])
            if isinstance(want, type):
                with pytest.raises(want):
                    fn(*args, **case["kwargs"])
            else:
                assert torch.equal(fn(*args, **case["kwargs"]), want)


# -- invalid-label count ----------------------------------------------------------
@pytest.mark.parametrize("dtype", INTS)
@pytest.mark.parametrize("c", [1, 3, 300])
@pytest.mark.parametrize("shape", [(), (1,), (40,), (5, 8)], ids=str)
def test_invalid_count_fast_matches_reference(dtype, c, shape):
    """The CPU min/max shortcut (all labels valid: the int 0) counts what the plain path counts."""
    gen = torch.Generator().manual_seed(c)
    for low, high in [(0, c), (-2, c + 2), (c, c + 3)]:  # all valid, both sides out, all out
        raw = torch.randint(max(low, 0) if dtype in (torch.uint8, torch.bool) else low, high, shape, generator=gen)
        labels = raw.clamp(0, 255).to(dtype) if dtype in (torch.uint8, torch.bool) else raw.to(dtype)
        fast = int(_dispatch.invalid_count(labels, c))
        reference = _reference.invalid_count_reference(labels, c)
        assert isinstance(reference, torch.Tensor) and fast == int(reference)
        assert int(F.invalid_label_count(labels, torch.zeros(*shape, c))) == fast


# -- the path table, exercised on the CPU ------------------------------------------
def test_a_failing_optional_path_falls_back_to_the_reference_once(monkeypatch):
    def broken_compile(*args, **kwargs):
        raise RuntimeError("no triton")

    monkeypatch.setattr(torch, "compile", broken_compile)  # a public torch name: no compiler here
    table = _dispatch.argmax_table(True)  # a fresh table: the shared ones keep their state
    x = _edge_scores(torch.float32, (50, 4))
    with tka.kernel_path("compiled") as log, pytest.warns(RuntimeWarning, match="no triton"):
        assert torch.equal(table(x), _reference.argmax_last_reference(x))
    assert log.used == {"argmax": {"reference"}}
    with warnings.catch_warnings(), tka.kernel_path("compiled"):
        warnings.simplefilter("error")  # warned once; later calls go straight to the reference
        assert torch.equal(table(x), _reference.argmax_last_reference(x))


def test_kernel_path_rejects_unknown_paths_and_sizes():
    with pytest.raises(ValueError, match="path must be one of"):
        with tka.kernel_path("fast"):
            pass
    with pytest.raises(ValueError, match="chunk_elements"):
        with tka.kernel_path(chunk_elements=0):
            pass


@pytest.mark.parametrize(
    "path",
    ["reference", "cpu_fast", "compiled", pytest.param("triton", marks=pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton"))],
)
def test_every_path_gives_the_metric_states_of_the_reference(path):
    """(The "triton" case runs the Triton kernels in Triton's interpreter here; ``-k triton`` selects it.)"""
    """The metrics' states, bit for bit, whichever path computes the primitives."""
    scores = _edge_scores(torch.float32, (64, 6), seed=5)
    labels = _targets(64, 6, seed=6)
    weights = torch.rand(64, generator=torch.Generator().manual_seed(5))
    states = {}
    for p in ("reference", path):
        with tka.kernel_path(p) as log:
            ms = [cls(on_invalid="ignore", warn_pitfalls=False) for cls in (tka.SparseCategoricalAccuracy, tka.SparseTopKCategoricalAccuracy)]
            for m in ms:
                m.update(scores, labels, sample_weight=weights)
        states[p] = [(m.total.clone(), m.count.clone(), m.invalid.clone()) for m in ms]
        assert set().union(*log.used.values()) == {p}
    for mine, ref in zip(states[path], states["reference"]):
        assert all(torch.equal(a, b) for a, b in zip(mine, ref))


# -- the chunked reference (CUDA's default, MPS), exercised on the CPU ---------------
@pytest.mark.parametrize("argmax,reference", ARGMAXES)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(200, 2), (300, 5), (6, 7, 4)], ids=str)
def test_argmax_reference_path_runs_in_chunks(argmax, reference, dtype, shape, chunks):
    """On the reference path, argmax runs the reference a bounded chunk of rows at a time."""
    x = _edge_scores(dtype, shape)
    want = reference(x)
    with tka.kernel_path("reference", chunk_elements=7 if chunks == "tiny_chunks" else None):
        assert torch.equal(argmax(x), want)


def test_row_chunks_bound_every_call():
    seen = []
    rows = torch.randn(23, 4)
    out = _reference.in_row_chunks(lambda r: seen.append(r.shape[0]) or r.sum(dim=1), rows, chunk_elements=10)  # 2 rows of 4
    assert seen == [2] * 11 + [1] and torch.equal(out, rows.sum(dim=1))


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton")
@pytest.mark.parametrize("cls,kw", [(tka.SparseCategoricalAccuracy, {}), (tka.SparseTopKCategoricalAccuracy, {"k": 2})], ids=["argmax", "top2"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_dtype", [torch.int64, torch.float32, torch.float64, torch.uint8])
def test_triton_fused_update_gives_the_reference_states(cls, kw, weighted, label_dtype):
    """The fused update (one Triton launch adding into the states; here in Triton's interpreter)
    leaves exactly the states of the reference path, and forward returns the same batch value."""
    scores = _edge_scores(torch.float32, (48, 6), seed=7)
    labels = _targets(48, 6, seed=8).clamp(min=0 if label_dtype == torch.uint8 else -2).to(label_dtype)
    if label_dtype.is_floating_point:
        labels[::7] += 0.5  # non-integral labels: a miss for argmax, truncated for top-k
    weights = torch.randint(0, 5, (48,), generator=torch.Generator().manual_seed(9)).float() / 4 if weighted else None
    results = {}
    for path in ("reference", "triton"):
        with tka.kernel_path(path) as log:
            m = cls(**kw, on_invalid="ignore", warn_pitfalls=False)
            m.update(scores, labels, sample_weight=weights)
            value = m(scores, labels[:, None], sample_weight=weights)
        results[path] = (m.total, m.count, m.invalid, value)
    assert any(key.startswith("fused") for key in log.used), log.used
    assert all(torch.equal(a, b) for a, b in zip(results["triton"], results["reference"]))


# -- the element-wise CPU rows (issue 19): FTZ without a copy, per-sample means by counting ----
@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("shape", [(300,), (300, 1), (40, 20), (0, 1), (3000, 1)], ids=str)  # 3000: the two-op min |x|
def test_flush_values_fast_matches_the_rule(dtype, shape):
    """The CPU row returns its input uncopied only where the rule changes nothing, bit for bit
    (signed zeros included); inputs holding zeros, subnormals or NaN take the rule."""
    if dtype.is_floating_point:
        inputs = [_edge_scores(dtype, shape), torch.randn(shape, generator=torch.Generator().manual_seed(11)).to(dtype) + 3]
    else:
        inputs = [torch.randint(0, 2 if dtype == torch.bool else 5, shape, generator=torch.Generator().manual_seed(12)).to(dtype)]
    for x in inputs:
        with tka.kernel_path() as log:
            got = _dispatch.flush_values(x)
        want = flush_subnormal(x)
        assert got.dtype == want.dtype
        if dtype.is_floating_point:  # NaN where the rule has NaN; every other value and every sign the same
            assert torch.equal(got.isnan(), want.isnan()) and torch.equal(got.nan_to_num(0.0), want.nan_to_num(0.0))
            assert torch.equal(torch.signbit(got), torch.signbit(want))
        else:
            assert torch.equal(got, want)
        if x.numel():
            assert log.used == {"flush": {"cpu_fast"}}


@pytest.mark.parametrize("shape", [(257, 1), (64, 20), (33, 3, 7), (5, 1, 1), (6, 1000)], ids=str)
def test_mean_hits_sum_fast_matches_reference(shape):
    gen = torch.Generator().manual_seed(13)
    for p in (0.0, 0.3, 0.5, 0.97, 1.0):
        hits = torch.rand(shape, generator=gen) < p
        with tka.kernel_path("reference") as ref_log:
            want = _dispatch.mean_hits_sum(hits, torch.float64)
        with tka.kernel_path() as log:
            got = _dispatch.mean_hits_sum(hits, torch.float64)
        assert ref_log.used == {"mean hits": {"reference"}} and log.used == {"mean hits": {"cpu_fast"}}
        assert got.dtype == want.dtype == torch.float64 and torch.equal(got, want)
        # ... and the reference is Keras's definition: the float64 mean per sample, summed.
        assert torch.equal(want, hits.to(torch.float64).mean(dim=tuple(range(1, hits.ndim))).sum())


def _metric_states(cls, kwargs, batches):
    m = cls(**kwargs, warn_pitfalls=False)
    values = [m(*batch) for batch in batches]
    return (m.total.clone(), m.count.clone(), *values, m.compute())


def _elementwise_batches(kind, shape):
    gen = torch.Generator().manual_seed(14)
    if kind == "binary":
        preds = torch.rand(shape, generator=gen)
        preds.view(-1)[::9] = 0.5  # on the threshold: class 0
        target = (torch.rand(shape, generator=gen) < 0.5).float()
        return [(preds, target), (preds.double(), target.bool()), (_edge_scores(torch.float32, shape, seed=3), target)]
    classes = torch.randint(0, 3, shape, generator=gen)
    edge = _edge_scores(torch.float32, shape, seed=4)
    return [
        (classes.float(), torch.randint(0, 3, shape, generator=gen).float()),  # class-valued floats (zeros)
        (classes.float() + 5, classes + 5),  # no zero anywhere: the inputs are compared uncopied
        (edge, edge.flip(0)),  # subnormals, signed zeros, NaN on both sides
        (edge, torch.zeros(shape, dtype=torch.int64)),  # integer labels against subnormal scores
        (classes, classes.flip(0)),  # integers
    ]


@pytest.mark.parametrize("kind,cls", [("binary", tka.BinaryAccuracy), ("equality", tka.Accuracy)])
@pytest.mark.parametrize("shape", [(300, 1), (300,), (60, 20), (10, 6, 1)], ids=str)
@pytest.mark.parametrize("dtype", [None, "int32"])
def test_elementwise_metrics_fast_give_the_reference_states(kind, cls, shape, dtype):
    """BinaryAccuracy and Accuracy on every shape users pass ((N, 1): the Dense(1) head):
    the states and batch values of the default (CPU) path equal the reference path's."""
    batches = _elementwise_batches(kind, shape)
    kwargs = {} if dtype is None else {"dtype": dtype}
    with tka.kernel_path("reference"):
        want = _metric_states(cls, kwargs, batches)
    got = _metric_states(cls, kwargs, batches)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and torch.equal(a, b)


def test_accuracy_skips_flushing_integer_labels_exactly():
    """An integer label cast to a float is 0 or at least 1 in magnitude, so the kernel does
    not flush it: the result is the rule's, spelled out (both sides flushed)."""
    fi = torch.finfo(torch.float32)
    preds = torch.tensor([0.0, -0.0, fi.tiny * fi.eps, -fi.tiny * fi.eps, fi.tiny, 1.0, float("nan"), 2.0])
    for dtype in (torch.int64, torch.int8, torch.uint8, torch.bool):
        labels = torch.tensor([0, 0, 0, 0, 0, 1, 0, 1]).to(dtype)
        want = flush_subnormal(labels.to(preds.dtype)) == flush_subnormal(preds)
        assert torch.equal(F.accuracy.hits(labels, preds), want)
        with tka.kernel_path("reference"):
            assert torch.equal(F.accuracy.hits(labels, preds), want)


@pytest.mark.parametrize("shape", [(257, 1), (4, 1, 1), (0, 1)], ids=str)
@pytest.mark.parametrize("integer", [False, True])
def test_one_hit_per_sample_is_counted_as_keras_averages_it(shape, integer):
    """(N, 1) hits (the Dense(1) head) are counted: the value of Keras's float64 per-sample
    mean, summed (the definition, spelled out), with the batch size as the count."""
    hits = torch.rand(shape, generator=torch.Generator().manual_seed(15)) < 0.6
    total, count = weighted_sums("m", hits, None, integer=integer)
    keras = hits.to(torch.float64).mean(dim=tuple(range(1, hits.ndim))).sum()
    state = torch.zeros((), dtype=torch.float64).add_(total)
    assert torch.equal(state, keras) and count == float(shape[0])


@pytest.mark.parametrize("dtype", FLOATS)
def test_binary_threshold_worked_out_once_is_the_rule(dtype):
    """The eager binary kernel reads its threshold operand from a per-(threshold, dtype) cache:
    the same comparison as the rule's operand built afresh (FTZ'd thresholds included)."""
    fi = torch.finfo(torch.float32)
    preds = _edge_scores(dtype, (200,), seed=16)
    preds[1::3] = torch.tensor([0.5, 1e-40, -1e-40, 0.0, 3.0]).to(dtype).repeat(14)[: preds[1::3].numel()]
    labels = (torch.rand(200, generator=torch.Generator().manual_seed(17)) < 0.5).float()
    for threshold in (0.5, 0, 1, -0.0, 1e-40, fi.tiny, -1e-40, float("inf"), 3.0):
        cmp = torch.promote_types(dtype, torch.float32)
        want = labels == (preds.to(cmp) > threshold_operand(threshold, cmp))
        assert torch.equal(F.binary_accuracy.hits(labels, preds, threshold=threshold), want)
        assert torch.equal(F.binary_accuracy.hits(labels, preds, threshold=torch.tensor(threshold)), want)  # not cached


# -- the small sparse batch counted in a few ops (issue 19) ------------------------------------
def _small_batch(kind: str, dtype: torch.dtype, label_dtype: torch.dtype, label_shape: str) -> tuple[torch.Tensor, torch.Tensor]:
    n, c = 32, 10
    gen = torch.Generator().manual_seed(11)
    scores = torch.randn(n, c, generator=gen).to(dtype)
    labels = torch.randint(0, c, (n,), generator=gen)
    labels[::2] = scores[::2].float().argmax(-1)  # about half right
    if kind == "ties":
        scores[:, 3] = scores[:, 7] = scores.float().amax(-1).to(dtype) + 1  # the first index wins
    elif kind == "edge":
        scores = _edge_scores(dtype, (n, c), seed=12)  # NaN, zeros, subnormals: the lane declines
    elif kind == "invalid":
        labels[5] = -1 if label_dtype != torch.uint8 else c
        labels[9] = c + 3  # invalid: counted by the per-sample path
    labels = labels.to(label_dtype)
    return scores, (labels if label_shape == "(N,)" else labels[:, None])


@pytest.mark.parametrize("kind", ["ordinary", "ties", "edge", "invalid"])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("label_dtype", [torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8])
@pytest.mark.parametrize("label_shape", ["(N,)", "(N, 1)"])
@pytest.mark.parametrize("cls", [tka.SparseCategoricalAccuracy, tka.KerasAccuracy], ids=["sparse", "accuracy"])
def test_small_sparse_batch_counted_gives_the_reference_states(kind, dtype, label_dtype, label_shape, cls):
    """A small plain sparse batch is counted in a few ops (``_cpu_fast.sparse_small_sums``) where that
    is exact, and declined (the per-sample path runs) where TensorFlow's rules or an invalid label
    matter; either way the states, the forward value and ``compute()`` are the reference's, bit for bit."""
    scores, labels = _small_batch(kind, dtype, label_dtype, label_shape)
    results = {}
    for path in ("reference", None):
        with warnings.catch_warnings(), tka.kernel_path(path) as log:
            warnings.simplefilter("ignore")
            m = cls(on_invalid="ignore")
            m.update(scores, labels)
            value = m(scores, labels)
            results[path] = (m.total.clone(), m.count.clone(), m.invalid.clone(), value, m.compute())
    lane = log.used.get("fused sparse_argmax", set())
    assert lane == ({"cpu_fast"} if kind in ("ordinary", "ties") else set()), log.used
    assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(results[None], results["reference"]))
    if kind == "invalid":
        assert int(results[None][2]) == 4  # two per batch: the lane did not hide them


@pytest.mark.parametrize("case", ["weighted", "masked", "ignore_index", "keras3_cast", "float_labels", "large", "integer_dtype"])
def test_small_sparse_lane_declines_what_it_does_not_mirror(case):
    """Weights, masks, ``ignore_index``, Keras 3's label cast, float labels, batches past the
    small-input size and integer result dtypes take the per-sample path, with the reference's states."""
    scores, labels = _small_batch("ordinary", torch.float32, torch.int64, "(N,)")
    kwargs: dict = {}
    update: dict = {}
    if case == "weighted":
        update["sample_weight"] = torch.rand(32, generator=torch.Generator().manual_seed(3))
    elif case == "masked":
        update["mask"] = torch.arange(32) % 3 != 0
    elif case == "ignore_index":
        kwargs["ignore_index"], labels = -100, torch.where(torch.arange(32) % 4 == 0, -100, labels)
    elif case == "keras3_cast":
        kwargs["label_cast"] = "keras3"
    elif case == "float_labels":
        labels = labels.float()
    elif case == "large":
        scores, labels = scores.repeat(8, 1), labels.repeat(8)  # 2560 scores > SMALL_ELEMENTS
    elif case == "integer_dtype":
        kwargs["dtype"] = "int32"
    results = {}
    for path in ("reference", None):
        with tka.kernel_path(path) as log:
            m = tka.SparseCategoricalAccuracy(**kwargs)
            m.update(scores, labels, **update)
            results[path] = (m.total.clone(), m.count.clone(), m.invalid.clone(), m.compute())
    assert "fused sparse_argmax" not in log.used, log.used
    assert all(torch.equal(a, b) for a, b in zip(results[None], results["reference"]))


# -- binary and equality batches counted a chunk at a time (issue 19) ---------------------------
def _elementwise_values(dtype: torch.dtype, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """0/1 (and class ids) mostly, with every value TensorFlow treats differently mixed in."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 3, shape, generator=gen).to(torch.float64)
    if dtype.is_floating_point:
        pool = _special_values(dtype).to(torch.float64)
        pick = torch.rand(shape, generator=gen) < 0.3
        x[pick] = pool[torch.randint(0, len(pool), shape, generator=gen)][pick]
    elif dtype == torch.bool:
        x = x.clamp(max=1)
    return x.to(dtype)


ELEMENTWISE_SHAPES = [((37,), (37,)), ((37, 1), (37, 1)), ((37,), (37, 1)), ((37, 1), (37,)), ((37, 5), (37, 5)), ((4, 300), (4, 300))]


@pytest.mark.parametrize("cls,kw", [(tka.BinaryAccuracy, {}), (tka.BinaryAccuracy, {"threshold": 0.0}), (tka.BinaryAccuracy, {"threshold": 1e-40}),
                                    (tka.BinaryAccuracy, {"threshold": 0.3}), (tka.Accuracy, {})], ids=["binary", "binary_0", "binary_subnormal", "binary_0.3", "equal"])
@pytest.mark.parametrize("pred_dtype", FLOATS)
@pytest.mark.parametrize("true_dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.bool])
@pytest.mark.parametrize("shapes", ELEMENTWISE_SHAPES, ids=str)
@pytest.mark.parametrize("sizes", [{}, {"small_elements": 0}, {"small_elements": 0, "chunk_elements": 7}], ids=["small", "chunk", "tiny_chunks"])
def test_elementwise_batches_counted_give_the_reference_states(cls, kw, pred_dtype, true_dtype, shapes, sizes):
    """``_cpu_fast.elementwise_sums`` (small inputs: bools counted; else hits as 1.0/0.0 in a reused buffer,
    a chunk of samples at a time; TensorFlow's FTZ by ``hardshrink``) leaves the reference's states, forward
    value and result, bit for bit."""
    true_shape, pred_shape = shapes
    y_true = _elementwise_values(true_dtype, true_shape, seed=21)
    y_pred = _elementwise_values(pred_dtype, pred_shape, seed=22)
    if cls is tka.BinaryAccuracy:
        y_pred = torch.where(torch.rand(pred_shape, generator=torch.Generator().manual_seed(23)) < 0.5, y_pred, torch.rand(pred_shape, dtype=pred_dtype))
    results = {}
    for path in ("reference", None):
        with warnings.catch_warnings(), tka.kernel_path(path, **(sizes if path is None else {})) as log:
            warnings.simplefilter("ignore")
            m = cls(**kw)
            m.update(y_pred, y_true)
            value = m(y_pred, y_true)
            results[path] = (m.total.clone(), m.count.clone(), m.invalid.clone(), value, m.compute())
    assert set(log.used) == {f"fused {cls.spec.fused}"}, log.used
    assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(results[None], results["reference"]))


@pytest.mark.parametrize("case", ["weighted", "masked", "integer_scores", "rank_3", "broadcast", "integer_dtype"])
def test_elementwise_lane_declines_what_it_does_not_mirror(case):
    """Weights, masks, integer scores, rank 3, broadcasting and integer result dtypes take the per-sample path."""
    y_true, y_pred = _elementwise_values(torch.float32, (12, 4), 31), _elementwise_values(torch.float32, (12, 4), 32)
    kwargs: dict = {}
    update: dict = {}
    if case == "weighted":
        update["sample_weight"] = torch.rand(12)
    elif case == "masked":
        update["mask"] = torch.arange(12) % 3 != 0
    elif case == "integer_scores":
        y_pred = y_pred.nan_to_num(posinf=3, neginf=-3).round().to(torch.int64)
    elif case == "rank_3":
        y_true, y_pred = y_true.reshape(12, 2, 2), y_pred.reshape(12, 2, 2)
    elif case == "broadcast":
        y_true = y_true[:, :1]
    elif case == "integer_dtype":
        kwargs["dtype"] = "int32"
    for cls in (tka.BinaryAccuracy, tka.Accuracy):
        results = {}
        for path in ("reference", None):
            with warnings.catch_warnings(), tka.kernel_path(path) as log:
                warnings.simplefilter("ignore")
                m = cls(**kwargs)
                m.update(y_pred, y_true, **update)
                results[path] = (m.total.clone(), m.count.clone(), m.compute())
        assert not any(key.startswith("fused") for key in log.used), log.used
        assert all(torch.equal(a, b) for a, b in zip(results[None], results["reference"]))
