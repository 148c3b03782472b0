"""Fused cross-entropy: per-token loss and the gradient of the logits in one kernel.

Shapes: ``logits`` [T, V] (fp32/bf16), ``labels`` [T] int32 with values in ``[0, V)``; returns
``loss`` [T] fp32 (``logsumexp(logits_t) − logits_t[label_t]``) and ``dlogits`` [T, V] in the
logits dtype, ``grad_scale · (softmax(logits_t) − onehot(label_t))`` — the gradient of
``grad_scale · Σ_t loss_t`` (``grad_scale = 1/T`` gives the mean loss's gradient).

Algorithm, per tile of up to 128 tokens (tokens on partitions), vocabulary in chunks of
``MAX_FREE``:

* pass 1 — the online max/exp-sum of :func:`~trnsim.kernels.softmax.update_stats`, and the
  label's logit: GpSimdE ``iota`` numbers the chunk's columns, VectorE compares them with the
  label (a [128, 1] column) into a one-hot mask and reduces ``mask ∘ logits``;
* loss ``= m + log(s) − picked``;
* pass 2 — each chunk is reloaded and ``exp(x − m)·grad_scale/s − grad_scale·onehot`` written.

Labels outside ``[0, V)`` are not detected (the kernel cannot branch on data): such a token's
picked logit is 0. Any T and V work (tail tiles).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trnsim.kernels.loops import tile_spans
from trnsim.kernels.softmax import update_stats
from trnsim.kernels.tiling import require, require_rank
from trnsim.nki.legacy import isa as nisa
from trnsim.nki.legacy import jit
from trnsim.nki.legacy import language as nl

#: Vocabulary columns per chunk (fp32 [128, 2048] = 8 KiB per partition per temporary).
MAX_FREE = 2048


def _onehot(labels_f: Any, c: Any, pr: int, fc: int, scale: float) -> Any:
    """``scale`` where column ``c + j`` equals the row's label, else 0, as a [pr, fc] fp32 tile."""
    _, i_f = nl.mgrid[0:pr, 0:fc]
    columns = nisa.iota(c + i_f, dtype=nl.float32)
    return nisa.tensor_scalar(columns, np.equal, labels_f, op1=np.multiply, operand1=scale, dtype=nl.float32)


@jit
def cross_entropy(logits: Any, labels: Any, grad_scale: float = 1.0) -> tuple[Any, Any]:
    """Return ``(loss [T] fp32, dlogits [T, V])`` for logits [T, V] and int32 labels [T]."""
    kernel = "cross_entropy"
    require_rank(kernel, "logits", logits.shape, 2)
    tokens, vocab = (int(d) for d in logits.shape)
    require(
        tuple(labels.shape) == (tokens,) and np.dtype(labels.dtype) == np.dtype(np.int32),
        kernel,
        f"'labels' is {tuple(labels.shape)} {labels.dtype}; expected ({tokens},) int32",
    )
    loss = nl.ndarray((tokens,), dtype=nl.float32, buffer=nl.shared_hbm)
    dlogits = nl.ndarray((tokens, vocab), dtype=logits.dtype, buffer=nl.shared_hbm)
    loss_col = loss.reshape((tokens, 1))
    labels_col = labels.reshape((tokens, 1))
    for r, pr in tile_spans(tokens, nl.tile_size.pmax):
        labels_f = nl.copy(nl.load(labels_col[r : r + pr, :]), dtype=nl.float32)
        run_max = nl.full((pr, 1), -np.inf, dtype=nl.float32, buffer=nl.sbuf)
        run_sum = nl.zeros((pr, 1), dtype=nl.float32, buffer=nl.sbuf)
        picked = nl.zeros((pr, 1), dtype=nl.float32, buffer=nl.sbuf)
        for c, fc in tile_spans(vocab, MAX_FREE, sequential=True):
            tile = nl.load(logits[r : r + pr, c : c + fc])
            update_stats(run_max, run_sum, tile, pr)
            hit = nisa.tensor_tensor(_onehot(labels_f, c, pr, fc, 1.0), tile, np.multiply, dtype=nl.float32)
            part = nisa.tensor_reduce(np.add, hit, axis=(1,), keepdims=True, dtype=nl.float32)
            picked[...] = nl.add(picked, part, dtype=nl.float32)
        log_sum = nisa.activation(op=nl.log, data=run_sum, dtype=nl.float32)
        lse = nl.add(log_sum, run_max, dtype=nl.float32)
        nl.store(loss_col[r : r + pr, :], value=nl.subtract(lse, picked, dtype=nl.float32))

        neg_max = nl.multiply(run_max, -1.0, dtype=nl.float32)
        prob_scale = nl.multiply(nisa.reciprocal(run_sum, dtype=nl.float32), grad_scale, dtype=nl.float32)
        for c, fc in tile_spans(vocab, MAX_FREE):
            tile = nl.load(logits[r : r + pr, c : c + fc])
            exps = nisa.activation(op=nl.exp, data=tile, bias=neg_max, dtype=nl.float32)
            grad = nisa.scalar_tensor_tensor(
                data=exps,
                op0=np.multiply,
                operand0=prob_scale,
                op1=np.subtract,
                operand1=_onehot(labels_f, c, pr, fc, grad_scale),
                dtype=logits.dtype,
            )
            nl.store(dlogits[r : r + pr, c : c + fc], value=grad)
    return loss, dlogits
