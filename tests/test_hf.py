"""torch_keras_acc.hf.compute_metrics inside a real transformers Trainer.

Tiny BERT models built from a config (random weights, no download, offline).
The expected numbers are real Keras 3's (torch backend; these are ordinary
random logits, with no ties or NaN) on the logits the Trainer produced, with
the -100 padding left out, as a Keras user would feed them.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
transformers = pytest.importorskip("transformers")

from torch_keras_acc.hf import compute_metrics  # noqa: E402

N, T, C, VOCAB = 12, 6, 7, 30


def keras_value(metric, y_true, y_pred):
    """Real Keras's answer (torch backend; the live test's rule: ordinary inputs only)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    m = metric(keras)
    m.update_state(y_true, y_pred)
    return float(np.float32(m.result()))


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def tiny_config(**kw):
    return transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, num_labels=C, **kw,
    )


def evaluate(model, rows, fn, tmp_path):
    captured = {}

    def spy(eval_pred):  # keep what the Trainer handed over, to give Keras the same arrays
        captured["predictions"], captured["label_ids"] = eval_pred.predictions, eval_pred.label_ids
        return fn(eval_pred)

    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=5, report_to=[], use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True,
    )
    trainer = transformers.Trainer(model=model, args=args, eval_dataset=ListDataset(rows), compute_metrics=spy)
    return trainer.evaluate(), captured


def test_sequence_classification(tmp_path):
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(tiny_config())
    gen = torch.Generator().manual_seed(1)
    rows = [{"input_ids": torch.randint(0, VOCAB, (T,), generator=gen), "attention_mask": torch.ones(T, dtype=torch.long),
             "labels": torch.randint(0, C, (), generator=gen)} for _ in range(N)]
    fn = compute_metrics(["accuracy", "sparse_top_k_categorical_accuracy"], prefix=None)
    out, seen = evaluate(model, rows, fn, tmp_path)
    logits, labels = seen["predictions"], seen["label_ids"]
    assert logits.shape == (N, C) and labels.shape == (N,)
    assert out["eval_accuracy"] == pytest.approx(keras_value(lambda k: k.metrics.SparseCategoricalAccuracy(), labels, logits), abs=1e-6)
    want_top5 = keras_value(lambda k: k.metrics.SparseTopKCategoricalAccuracy(k=5), labels, logits)
    assert out["eval_sparse_top_k_categorical_accuracy"] == pytest.approx(want_top5, abs=1e-6)


def test_token_classification_ignores_padding(tmp_path):
    torch.manual_seed(0)
    model = transformers.BertForTokenClassification(tiny_config())
    gen = torch.Generator().manual_seed(2)
    rows = []
    for i in range(N):
        length = 2 + i % (T - 1)  # 2..T real tokens, the rest padding labelled -100
        labels = torch.full((T,), -100)
        labels[:length] = torch.randint(0, C, (length,), generator=gen)
        mask = (labels != -100).long()
        rows.append({"input_ids": torch.randint(0, VOCAB, (T,), generator=gen) * mask, "attention_mask": mask, "labels": labels})
    fn = compute_metrics(["accuracy", {"class_name": "SparseTopKCategoricalAccuracy", "config": {"k": 2, "name": "top2"}}])
    out, seen = evaluate(model, rows, fn, tmp_path)
    logits, labels = seen["predictions"], seen["label_ids"]
    assert logits.shape == (N, T, C) and (labels == -100).any()
    keep = labels != -100  # a Keras user drops the padding: every real token once
    want = keras_value(lambda k: k.metrics.SparseCategoricalAccuracy(), labels[keep], logits[keep])
    assert out["eval_accuracy"] == pytest.approx(want, abs=1e-6)
    want_top2 = keras_value(lambda k: k.metrics.SparseTopKCategoricalAccuracy(k=2), labels[keep], logits[keep])
    assert out["eval_top2"] == pytest.approx(want_top2, abs=1e-6)


def test_tuple_predictions_and_plain_pairs():
    # Models with output_hidden_states return (logits, hidden_states): the first entry is scored.
    fn = compute_metrics(["sparse_categorical_accuracy"], ignore_index=None, prefix="hf_")
    logits = np.array([[0.2, 0.9], [0.8, 0.1], [0.4, 0.6]], dtype=np.float32)
    hidden = (np.zeros((3, 5, 2), dtype=np.float32),)
    labels = np.array([1, 1, 1])
    want = keras_value(lambda k: k.metrics.SparseCategoricalAccuracy(), labels, logits)
    assert fn(((logits, hidden), labels)) == {"hf_sparse_categorical_accuracy": pytest.approx(want, abs=1e-6)}
    assert fn(transformers.EvalPrediction(predictions=(logits, hidden), label_ids=labels)) == fn((logits, labels))


def test_bad_shapes_and_missing_labels_are_clear():
    fn = compute_metrics(["sparse_categorical_accuracy"], ignore_index=None)
    with pytest.raises(ValueError, match=r"logits of shape \(4, 3\) do not match label_ids of shape \(5,\)"):
        fn((np.zeros((4, 3), dtype=np.float32), np.zeros(5, dtype=np.int64)))
    with pytest.raises(ValueError, match="no label_ids"):
        fn(transformers.EvalPrediction(predictions=np.zeros((2, 3), dtype=np.float32), label_ids=None))
