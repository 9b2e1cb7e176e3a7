"""P1's attention probe on the raw residual stream of every token (Kantamneni et al. 2025, multi-token
section; protocol from P1's ``run_multi_token_acts.py``, our own code).

One learned query ``q [d]``, one value ``v [d]`` and a bias ``b``. For a text with tokens
``x_1..x_T`` (BOS excluded):

    s_t = x_t . q        (padded positions set to ``mask_value`` = -10000 before the softmax)
    logit = (sum_t softmax(s)_t x_t) . v + b = sum_t softmax(s)_t (x_t . v) + b

(the second form is the same number by linearity and needs one ``[T, d] x [d, 2]`` product per
text instead of a pooled ``[d]`` vector). Training as P1: BCE with logits, ``q``, ``v`` drawn
``randn * 1e-3`` (``v`` first, as P1), ``b = 0``; full-batch Adam, lr 1e-4, 1000 steps, no weight
decay; the training rows split 80/20 at random, and the parameters with the best validation AUC
(evaluated before each step, as P1) kept. Differences from P1's script: the split and the
initialisation are seeded (P1's ``torch.randperm`` is not); padding is masked by the given mask
(P1 masks scores that are exactly 0, i.e. its zeroed padding -- and, in principle, a real token
whose score happens to be 0); BOS is not among the tokens (P1 kept it; its norm is ~10x the rest).

Inputs: a padded ``X [n, T, d]`` with ``mask [n, T]`` (True on real tokens), or a
:class:`saeprobe.core.tokens.RaggedTokens` (no padding at all). Internally rows are sorted by length
and grouped into chunks padded only to their own longest row, at most ``chunk_tokens`` padded
tokens each; the full-batch gradient is accumulated chunk by chunk (same numbers, bounded memory).
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from saeprobe.core.config import no_bar
from saeprobe.core.tokens import RaggedTokens
from saeprobe.p1.base import BLAS_THREADS

__all__ = ["AttentionProbe", "attention_logits", "fast_auc"]


def attention_logits(X: torch.Tensor, mask: torch.Tensor, q: torch.Tensor, v: torch.Tensor, b: torch.Tensor,
                     mask_value: float = -10000.0) -> torch.Tensor:
    """P1's attention-probe logits of padded ``X [n, T, d]`` with ``mask [n, T]`` -> ``[n]``."""
    sv = X @ torch.stack([q, v], 1)  # [n, T, 2]: scores and values in one product
    s = sv[..., 0].masked_fill(~mask, mask_value)
    return (torch.softmax(s, dim=1) * sv[..., 1]).sum(1) + b


def fast_auc(y01: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC via ranks (ties averaged; equals ``sklearn.metrics.roc_auc_score``); NaN for one class."""
    y01 = np.asarray(y01).astype(bool)
    n1 = int(y01.sum())
    n0 = len(y01) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[y01].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _as_ragged(X, mask) -> RaggedTokens:
    if isinstance(X, RaggedTokens):
        if mask is not None:
            raise ValueError("AttentionProbe: RaggedTokens carry their own lengths; pass mask=None")
        return X
    if mask is None:
        raise ValueError("AttentionProbe: a padded X [n, T, d] needs mask [n, T] (True on real tokens)")
    return RaggedTokens.from_padded(X, mask)


def _chunks(rag: RaggedTokens, rows: np.ndarray, budget: int, device) -> list:
    """``[(positions in rows, X [b, T_b, d] float32, mask [b, T_b])]`` for ``rows`` of ``rag``, longest first."""
    lens = rag.lengths[rows]
    order = np.argsort(-lens, kind="stable")
    out, i = [], 0
    while i < len(order):
        b = max(1, budget // max(1, int(lens[order[i]])))
        pos = order[i:i + b]
        X, m = rag.select(rows[pos]).padded()
        out.append((torch.from_numpy(pos), X.to(device), m.to(device)))
        i += b
    return out


class AttentionProbe(ClassifierMixin, BaseEstimator):
    """P1's attention probe as a scikit-learn-style binary classifier (see the module docstring).

    ``fit(X, mask, y)`` / ``decision_function(X, mask)`` / ``predict_proba`` / ``predict`` take a
    padded ``X [n, T, d]`` + ``mask [n, T]``, or ``RaggedTokens`` with ``mask=None``.

    Parameters: ``steps`` (1000), ``lr`` (1e-4), ``val_frac`` (0.2: the validation share of the
    training rows), ``init_scale`` (1e-3), ``mask_value`` (-10000), ``seed`` (split and init),
    ``device`` (None: CPU), ``chunk_tokens`` (padded tokens per chunk), ``progress`` (a bar over steps).

    Fitted: ``q_``, ``v_`` (float32 ``[d]``), ``b_`` (float), ``val_auc_`` (best validation AUC),
    ``best_step_``, ``val_curve_`` (validation AUC per step ``[steps]``), ``train_auc_`` (at the
    kept parameters), ``classes_``.
    """

    def __init__(self, steps=1000, lr=1e-4, val_frac=0.2, init_scale=1e-3, mask_value=-10000.0, seed=42,
                 device=None, chunk_tokens=65536, progress=True):
        self.steps = steps
        self.lr = lr
        self.val_frac = val_frac
        self.init_scale = init_scale
        self.mask_value = mask_value
        self.seed = seed
        self.device = device
        self.chunk_tokens = chunk_tokens
        self.progress = progress

    def _split(self, y01: np.ndarray, g: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
        n = len(y01)
        perm = torch.randperm(n, generator=g).numpy()
        n_tr = int((1 - self.val_frac) * n)
        tr, va = perm[:n_tr], perm[n_tr:]
        if len(va) and len(np.unique(y01[va])) == 2 and len(np.unique(y01[tr])) == 2:
            return tr, va
        # tiny sets only: a random split left a class out of one side -> stratify instead
        tr, va = [], []
        for c in (0, 1):
            idx = perm[y01[perm] == c]
            k = max(1, int(round(self.val_frac * len(idx)))) if len(idx) > 1 else 0
            va.extend(idx[:k])
            tr.extend(idx[k:])
        return np.asarray(tr), np.asarray(va)

    def fit(self, X, mask=None, y=None):
        """Fit on ``X`` (+ ``mask``) and binary labels ``y [n]``.

        On CPU torch runs ``saeprobe.p1.base.BLAS_THREADS`` intra-op threads inside ``fit`` (default
        1): measured on the shared 2-core machine, one step on a small problem took 1.8 ms with one
        thread and 51 ms with two while other jobs ran.
        """
        threads = torch.get_num_threads()
        if torch.device(self.device or "cpu").type == "cpu":
            torch.set_num_threads(max(1, BLAS_THREADS))
        try:
            return self._fit(X, mask, y)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, X, mask, y):
        rag = _as_ragged(X, mask)
        if y is None:
            raise ValueError("AttentionProbe.fit(X, mask, y): labels y are required")
        y = np.asarray(y)
        if len(y) != rag.n_rows:
            raise ValueError(f"AttentionProbe.fit: {rag.n_rows} rows but {len(y)} labels")
        classes = np.unique(y)
        if len(classes) != 2:
            raise ValueError(f"AttentionProbe: needs exactly two classes in y, got {classes.tolist()[:5]}")
        if not np.isfinite(rag.tokens.float().sum().item()):
            raise ValueError("AttentionProbe.fit: the token activations hold NaN or inf")
        self.classes_ = classes
        y01 = (y == classes[1]).astype(np.int64)
        dev = torch.device(self.device or "cpu")
        g = torch.Generator().manual_seed(int(self.seed))
        tr, va = self._split(y01, g)
        d = rag.d
        v = (torch.randn(d, generator=g) * self.init_scale).to(dev).requires_grad_()
        q = (torch.randn(d, generator=g) * self.init_scale).to(dev).requires_grad_()
        b = torch.zeros(1, device=dev, requires_grad=True)
        opt = torch.optim.Adam([q, v, b], lr=self.lr, weight_decay=0.0)
        train_chunks = _chunks(rag, tr, int(self.chunk_tokens), dev)
        val_chunks = _chunks(rag, va, int(self.chunk_tokens), dev)
        y_tr = torch.as_tensor(y01[tr], dtype=torch.float32, device=dev)
        y_va = y01[va]
        loss_fn = torch.nn.BCEWithLogitsLoss(reduction="sum")
        best = (-np.inf, None, -1)
        curve = np.full(int(self.steps), np.nan)
        bar = tqdm(range(int(self.steps)), desc="attention probe", disable=no_bar(self.progress), leave=False)
        for step in bar:
            opt.zero_grad()
            total = 0.0
            for pos, Xc, mc in train_chunks:
                loss = loss_fn(attention_logits(Xc, mc, q, v, b, self.mask_value), y_tr[pos.to(dev)]) / len(tr)
                loss.backward()
                total += float(loss.detach())
            with torch.no_grad():
                val_auc = fast_auc(y_va, self._logits(val_chunks, len(va), q, v, b))
            curve[step] = val_auc
            if val_auc > best[0]:
                best = (val_auc, (q.detach().clone(), v.detach().clone(), b.detach().clone()), step)
            opt.step()
            if step % 50 == 0 or step == self.steps - 1:
                bar.set_postfix(loss=f"{total:.3f}", val_auc=f"{val_auc:.3f}", best=f"{best[0]:.3f}")
        bar.close()
        if best[1] is None:  # every validation AUC NaN (cannot happen with two classes in va)
            best = (float("nan"), (q.detach(), v.detach(), b.detach()), int(self.steps) - 1)
        qb, vb, bb = best[1]
        self.q_, self.v_, self.b_ = qb.cpu().numpy(), vb.cpu().numpy(), float(bb.cpu())
        self.val_auc_, self.best_step_, self.val_curve_ = float(best[0]), int(best[2]), curve
        self.n_train_, self.n_val_ = len(tr), len(va)
        with torch.no_grad():
            self.train_auc_ = fast_auc(y01[tr], self._logits(train_chunks, len(tr), qb, vb, bb))
        return self

    def _logits(self, chunks, n, q, v, b) -> np.ndarray:
        out = np.zeros(n, dtype=np.float64)
        for pos, Xc, mc in chunks:
            out[pos.numpy()] = attention_logits(Xc, mc, q, v, b, self.mask_value).double().cpu().numpy()
        return out

    def decision_function(self, X, mask=None) -> np.ndarray:
        """Logits of ``classes_[1]``, ``[n]`` float64."""
        check_is_fitted(self, "q_")
        rag = _as_ragged(X, mask)
        if rag.d != len(self.q_):
            raise ValueError(f"AttentionProbe: fitted on d={len(self.q_)} features, got d={rag.d}")
        dev = torch.device(self.device or "cpu")
        q, v = torch.from_numpy(self.q_).to(dev), torch.from_numpy(self.v_).to(dev)
        b = torch.tensor([self.b_], dtype=torch.float32, device=dev)
        with torch.no_grad():
            chunks = _chunks(rag, np.arange(rag.n_rows), int(self.chunk_tokens), dev)
            return self._logits(chunks, rag.n_rows, q, v, b)

    def predict_proba(self, X, mask=None) -> np.ndarray:
        """``[n, 2]`` probabilities in ``classes_`` order."""
        p1 = 1.0 / (1.0 + np.exp(-self.decision_function(X, mask)))
        return np.column_stack([1.0 - p1, p1])

    def predict(self, X, mask=None) -> np.ndarray:
        """Predicted labels ``[n]``."""
        return self.classes_[(self.decision_function(X, mask) > 0).astype(int)]
