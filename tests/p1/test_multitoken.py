"""P1's multi-token probing: the attention probe (planted signal, padding, API), the per-token cache
(round trip, validation, streaming) and one pass of the real model on a few texts."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from saeprobe.core import activations
from saeprobe.core.config import load_profile
from saeprobe.core.tokens import RaggedTokens, token_store, write_store
from saeprobe.p1 import multitoken as M
from saeprobe.p1 import multitoken_report as R
from saeprobe.p1.attention import AttentionProbe, attention_logits, fast_auc
from saeprobe.p1.probes import make_probe


def _planted(n=400, d=16, seed=0, scale=100.0):
    """Texts of 6-12 tokens; the label sits in ONE middle token (marked by dimension 0), the last
    token carries nothing. Scale like the residual stream (hundreds), where P1's lr 1e-4 is meant."""
    g = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    g.shuffle(y)
    lens = g.integers(6, 13, size=n)
    T = int(lens.max())
    X = g.normal(size=(n, T, d)).astype(np.float32)
    mask = np.arange(T)[None] < lens[:, None]
    X[~mask] = 0
    mid = lens // 2
    X[np.arange(n), mid, 0] += 4.0
    X[np.arange(n), mid, 1] += 2.0 * (2 * y - 1)
    return X * scale, mask, y


def test_attention_probe_finds_a_middle_token_label_that_last_token_lr_cannot_see():
    X, mask, y = _planted()
    tr, te = np.arange(300), np.arange(300, 400)
    probe = AttentionProbe(progress=False).fit(X[tr], mask[tr], y[tr])
    att = fast_auc(y[te], probe.decision_function(X[te], mask[te]))
    last = X[np.arange(len(y)), mask.sum(1) - 1]
    lr = make_probe("lr").fit(last[tr], y[tr])
    lr_auc = fast_auc(y[te], lr.predict_proba(last[te])[:, 1])
    assert att > 0.85, att
    assert abs(lr_auc - 0.5) < 0.15, lr_auc
    assert probe.val_auc_ == np.nanmax(probe.val_curve_) and 0 <= probe.best_step_ < 1000
    assert probe.n_train_ == 240 and probe.n_val_ == 60  # P1's 80/20 split of the training rows


def test_softmax_mask_ignores_padding():
    X, mask, y = _planted(n=120)
    probe = AttentionProbe(steps=30, progress=False).fit(X, mask, y)
    noise = np.random.default_rng(1).normal(size=(120, 9, X.shape[2])).astype(np.float32) * 1e3
    Xp = np.concatenate([X, noise], 1)  # more padding, and garbage in it
    Xp[~np.concatenate([mask, np.zeros((120, 9), bool)], 1)] = 1e3
    mp = np.concatenate([mask, np.zeros((120, 9), bool)], 1)
    np.testing.assert_allclose(probe.decision_function(X, mask), probe.decision_function(Xp, mp), rtol=1e-6, atol=1e-6)
    # the raw masked softmax too, on the padded tensors as given (no trimming)
    q, v, b = (torch.from_numpy(probe.q_), torch.from_numpy(probe.v_), torch.tensor([probe.b_]))
    a = attention_logits(torch.from_numpy(X), torch.from_numpy(mask), q, v, b)
    c = attention_logits(torch.from_numpy(Xp), torch.from_numpy(mp), q, v, b)
    np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-5, atol=1e-4)
    # ragged input without any padding gives the same numbers; fits are seeded
    rag = RaggedTokens.from_padded(X, mask)
    np.testing.assert_allclose(probe.decision_function(rag), probe.decision_function(X, mask), rtol=1e-6)
    again = AttentionProbe(steps=30, progress=False).fit(rag, None, y)
    np.testing.assert_array_equal(again.q_, probe.q_)
    assert probe.predict_proba(X, mask).shape == (120, 2) and set(probe.predict(X, mask)) <= {0, 1}


def test_attention_probe_errors_are_one_line():
    X, mask, y = _planted(n=40)
    with pytest.raises(ValueError, match="needs mask"):
        AttentionProbe(steps=2).fit(X, None, y)
    with pytest.raises(ValueError, match="two classes"):
        AttentionProbe(steps=2).fit(X, mask, np.zeros(40))
    bad = mask.copy()
    bad[3] = False
    with pytest.raises(ValueError, match="row 3 has no real token"):
        AttentionProbe(steps=2).fit(X, bad, y)


def test_fast_auc_equals_sklearn():
    from sklearn.metrics import roc_auc_score

    g = np.random.default_rng(0)
    y, s = g.integers(0, 2, 200), np.round(g.normal(size=200), 1)  # with ties
    assert fast_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_ragged_tokens_round_trip_and_positions():
    X, mask, _ = _planted(n=10, d=4)
    rag = RaggedTokens.from_padded(X, mask)
    Xb, mb = rag.padded()
    assert torch.equal(mb, torch.from_numpy(mask[:, : mb.shape[1]]))
    np.testing.assert_array_equal(Xb.numpy(), X[:, : mb.shape[1]])
    np.testing.assert_array_equal(rag.last().numpy(), X[np.arange(10), mask.sum(1) - 1])
    at, has = rag.at_position(11)
    assert (has.numpy() == (mask.sum(1) > 11)).all() and (at[~has] == 0).all()
    sel = rag.select([3, 1])
    np.testing.assert_array_equal(sel.row(0).numpy(), X[3][mask[3]])


def _batches(rag, order, per=3):
    for i in range(0, len(order), per):
        idx = order[i:i + per]
        yield idx, [rag.row(j) for j in idx]


def test_token_cache_round_trip_streams_and_rejects_corruption(tmp_path):
    X, mask, _ = _planted(n=50, d=8)
    rag = RaggedTokens.from_padded(X, mask)
    order = list(np.random.default_rng(0).permutation(50))
    store = write_store(tmp_path / "e", "k1", {"name": "t"}, _batches(rag, order), 50, shard_mb=0.004)
    assert store.meta["n_shards"] > 3 and store.n_tokens == int(mask.sum())
    rows = [7, 0, 49, 7]
    got = store.gather(rows)
    for j, r in enumerate(rows):
        np.testing.assert_array_equal(got.row(j).numpy(), X[r][mask[r]])
    streamed = sum(len(w) for w, _ in store.iter_rows(rows))
    assert streamed == len(rows)
    np.testing.assert_array_equal(store.last().numpy(), rag.last().numpy())
    # every shard is checksummed: a flipped byte is detected, removed, and the entry stops loading
    shard = tmp_path / "e" / "shard-00001.safetensors"
    raw = bytearray(shard.read_bytes())
    raw[-5] ^= 0xFF
    shard.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match="missing or corrupt"):
        store.gather(range(50))
    assert not (tmp_path / "e" / "manifest.safetensors").exists()
    with pytest.raises(ValueError, match="came twice"):
        write_store(tmp_path / "f", "k", {}, iter([([0, 0], [rag.row(0), rag.row(0)])]), 1)
    with pytest.raises(ValueError, match="never came"):
        write_store(tmp_path / "g", "k", {}, iter([([0], [rag.row(0)])]), 2)


def test_concat_pca_and_pooled_codes_shapes():
    X, mask, _ = _planted(n=60, d=8)
    rag = RaggedTokens.from_padded(X, mask)
    cp = M.ConcatPCA(n_components=3).fit(rag)
    assert [p for p, _ in cp.pcas_] == list(range(int(mask.sum(1).max())))
    assert cp.transform(rag.select([0, 1])).shape == (2, 3 * len(cp.pcas_))


def test_win_rates_and_verdicts():
    a = np.array([0.9, 0.8, 0.7, 0.7])
    b = np.array([0.8, 0.8, 0.703, 0.75])
    w = R.win_rates(a, b, margin=0.005)
    assert (w["a_wins"], w["b_wins"], w["ties"], w["n"]) == (1, 1, 2, 4)
    t = {"mean_diff": 0.02, "ci_lo": 0.01, "ci_hi": 0.03, "n": 10}
    assert "beats" in R.verdict(t, "attention", "SAE max-pool")
    assert "No detectable difference" in R.verdict({**t, "ci_lo": -0.01}, "attention", "SAE max-pool")
    assert "trails" in R.verdict({**t, "mean_diff": -0.02, "ci_lo": -0.03, "ci_hi": -0.01}, "a", "b")


@pytest.mark.real
def test_token_cache_on_the_real_model_matches_the_extractor(real_model, tmp_path, monkeypatch):
    prof = load_profile("smoke", home=str(tmp_path))
    texts = ["The cat sat on the mat.", "A much longer sentence about probes, tokens and attention heads.", "Hi"]
    hook = prof.hook_name()
    store = token_store(prof, "few", texts, model=real_model, progress=False, shard_mb=0.01)
    ref = {i: a for i, a, _ in activations.iter_token_acts(real_model, texts, hook, max_len=prof.max_len,
                                                           batch_size=prof.batch_size, progress=False)}
    got = store.gather([0, 1, 2])
    for i in range(3):
        torch.testing.assert_close(got.row(i), ref[i], rtol=1e-5, atol=1e-4)
    last = activations.extract(real_model, texts, hook, max_len=prof.max_len, reducers=("last",), progress=False)
    torch.testing.assert_close(store.last(), last[hook]["last"], rtol=1e-5, atol=1e-4)
    # a second call is a cache hit: the model is not needed
    monkeypatch.setattr("saeprobe.core.models.load_profile_model", lambda p: pytest.fail("model loaded on a hit"))
    again = token_store(prof, "few", texts, model=real_model, progress=False)
    assert again.folder == store.folder and (again.lengths == store.lengths).all()
    assert sp.issparse(sp.csr_matrix(np.zeros((1, 1))))


def test_quiver_summary_and_settings():
    res = [{"dataset": d, "methods": {"attention": {"test_auc": ta, "val_auc": va},
                                      "lr": {"test_auc": tl, "val_auc": vl},
                                      "sae_max:s": {"test_auc": ts, "val_auc": 0.9}}}
           for d, ta, va, tl, vl, ts in [("a", 0.9, 0.95, 0.8, 0.9, 0.85), ("b", 0.7, 0.8, 0.75, 0.85, 0.72)]]
    df = R.add_quiver(R.results_table(res), members=("attention", "lr"))
    q = df[df.method == "quiver"].set_index("dataset")
    assert q.loc["a", "chosen"] == "attention" and q.loc["b", "chosen"] == "lr"
    assert q.loc["b", "test_auc"] == 0.75
    s = R.summary(df, ["attention", "lr", "sae_max:s", "quiver"], n_boot=50).set_index("method")
    assert s.loc["attention", "mean"] == pytest.approx(0.8) and s.loc["lr", "paper"] == R.P1_MULTI_TOKEN["last_token"]
    assert s.loc["sae_max:s", "paper"] == 0.924 and np.isnan(s.loc["quiver", "paper"])
    c = R.compare(df, "quiver", "sae_max:s", n_boot=50)
    assert c["n"] == 2 and c["a_wins"] == 2
    with pytest.raises(ValueError, match=r"p1.multi_token.stepz: unknown key \(did you mean 'steps'\?\)"):
        load_profile("smoke", p1={"multi_token": {"stepz": 3}})
    assert load_profile("cpu").p1.multi_token.steps == 1000 and load_profile("smoke").p1.multi_token.sae_k == 16
