"""saeprobe.mosaic (P3): pooled SAE features, binarization, macro F1, TF-IDF baseline, the C path with
validation vs test selection, and one real-model run (offline Gemma 3 270M, a few texts)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402

from saeprobe import mosaic

# 3 tokens x 6 latents, hand-made (BOS already excluded, as pool_text's contract says)
CODES = sp.csr_matrix(np.array([
    [0.0, 3.0, 0.5, 0.0, 2.0, 0.0],
    [1.5, 0.0, 0.2, 0.0, 4.0, 0.0],
    [0.0, 0.9, 0.0, 0.0, 0.0, 7.0],
], dtype=np.float32))


def test_pool_text_sum_count_topn_last():
    out = mosaic.pool_text(CODES, ("count", "sum", "max", "mean", "last"), (0, 1, 2), ("count", "sum"))
    d = {k: v.toarray()[0] for k, v in out.items()}
    np.testing.assert_allclose(d[("count", 0)], [1, 2, 2, 0, 2, 1])
    np.testing.assert_allclose(d[("sum", 0)], [1.5, 3.9, 0.7, 0, 6.0, 7.0], rtol=1e-6)
    # top-1 per token: token0 -> latent1, token1 -> latent4, token2 -> latent5
    np.testing.assert_allclose(d[("count", 1)], [0, 1, 0, 0, 1, 1])
    np.testing.assert_allclose(d[("sum", 1)], [0, 3.0, 0, 0, 4.0, 7.0])
    # top-2: token0 {1,4}, token1 {4,0}, token2 {5,1}
    np.testing.assert_allclose(d[("count", 2)], [1, 2, 0, 0, 2, 1])
    np.testing.assert_allclose(d[("max", 0)], [1.5, 3.0, 0.5, 0, 4.0, 7.0])
    np.testing.assert_allclose(d[("mean", 0)], np.array([1.5, 3.9, 0.7, 0, 6.0, 7.0]) / 3, rtol=1e-6)
    np.testing.assert_allclose(d[("last", 0)], [0, 0.9, 0, 0, 0, 7.0])
    # top-n variants only for the top_n_poolings
    assert ("max", 1) not in out and ("last", 1) not in out


def test_binarize_thresholds():
    counts = mosaic.pool_text(CODES, ("count",), (0,))[("count", 0)]
    np.testing.assert_array_equal(mosaic.binarize(counts, 1.0).toarray()[0], [0, 1, 1, 0, 1, 0])  # MOSAIC: X > 1
    np.testing.assert_array_equal(mosaic.binarize(counts, 0.0).toarray()[0], [1, 1, 1, 0, 1, 1])  # ever active
    assert mosaic.binarize(counts, None) is counts
    dense = np.array([[0.5, 1.0, 1.5]])
    np.testing.assert_array_equal(mosaic.binarize(dense, 1.0), [[0, 0, 1]])


def test_macro_f1_known_confusion():
    # confusion (rows true, cols pred): [[3,1,0],[0,2,2],[1,0,1]]
    y_true = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    y_pred = [0, 0, 0, 1, 1, 1, 2, 2, 0, 2]
    f1 = [2 * 3 / (2 * 3 + 1 + 1), 2 * 2 / (2 * 2 + 1 + 2), 2 * 1 / (2 * 1 + 2 + 1)]
    assert mosaic.macro_f1(y_true, y_pred) == pytest.approx(np.mean(f1))
    assert mosaic.macro_f1([0, 1, 1, 0], [0, 1, 1, 0]) == 1.0


def test_split_is_stratified_and_nested():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    train, test, inner, val = mosaic.split(y, seed=42)
    assert len(test) == 20 and len(train) == 80
    assert set(train).isdisjoint(test) and set(inner) | set(val) == set(train) and set(inner).isdisjoint(val)
    np.testing.assert_array_equal(np.bincount(y[test]), [10, 6, 4])
    again = mosaic.split(y, seed=42)
    assert all((a == b).all() for a, b in zip((train, test, inner, val), again))


def test_tfidf_separable_corpus_and_c_path():
    cats = [f"the cat number {i} purrs and meows on the warm sofa" for i in range(20)]
    money = [f"stock market index {i} falls as bank raises interest rates" for i in range(20)]
    texts = np.array(cats + money, dtype=object)
    y = np.array([0] * 20 + [1] * 20)
    train, test, inner, val = mosaic.split(y)
    vec = mosaic.tfidf_vectorizer()
    assert vec.get_params()["ngram_range"] == (1, 2) and vec.get_params()["max_features"] == 20000
    vec.fit(texts[train])
    X = vec.transform(texts)
    res = mosaic.c_path(X, y, train, val, inner, test, [0.1, 1.0, 10.0], class_weight="balanced")
    assert [r["C"] for r in res] == [0.1, 1.0, 10.0]
    assert all(r["test_f1"] == 1.0 and r["val_f1"] == 1.0 for r in res)
    # a foreign-language test set shares no vocabulary: every row is empty (TF-IDF cannot transfer)
    Xo = vec.transform(["le chat ronronne sur le canapé", "la bourse chute fortement"])
    assert Xo.nnz == 0


def test_selection_val_vs_test_and_optimism():
    rows = []
    for ds in ("a", "b"):
        for cfg, val, test in (("x", 0.9, 0.70), ("y", 0.8, 0.95)):
            rows.append({"dataset": ds, "config": cfg, "C": 1.0, "val_f1": val, "test_f1": test})
    df = pd.DataFrame(rows)
    assert set(mosaic.best_config(df, "val")["config"]) == {"x"}
    assert set(mosaic.best_config(df, "test")["config"]) == {"y"}
    opt = mosaic.optimism(df, n_boot=200)
    assert opt["optimism"].mean == pytest.approx(0.25)
    sel = mosaic.select(df, "val")
    assert len(sel) == 4


def _random_topk_sae(d_in, d_sae=64, k=4, hook="blocks.4.hook_resid_post"):
    from sae_lens import TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(0)
    sae = TopKSAE(TopKSAEConfig(d_in=d_in, d_sae=d_sae, k=k, metadata=SAEMetadata(hook_name=hook)))
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_in, d_sae) / d_in)
        sae.b_enc.fill_(100.0)  # every latent positive: each token has exactly k active latents
        sae.b_dec.zero_()
    return sae


@pytest.mark.real
def test_real_model_features_bos_excluded_and_cached(real_model, tmp_profile):
    from saeprobe.core import activations, data

    prof = tmp_profile.replace(p3={"multiclass": [], "binary": ["87_glue_cola"], "max_rows": 12,
                                   "C_grid": [0.1, 1.0], "layers": [4]})
    p = mosaic.p3_profile(prof)
    ds = data.load_dataset("87_glue_cola", max_rows=12, seed=42)
    hook = "blocks.4.hook_resid_post"
    sae = _random_topk_sae(real_model.cfg.d_model)
    by_hook = {hook: {"rand": sae}}
    feats = mosaic.sae_features(p, "87_glue_cola", by_hook, model=real_model, progress=False)[(hook, "rand")]
    n_tok = np.array([len(t) - 1 for t in activations.tokenize(real_model, ds.texts, p.max_len)])  # minus BOS
    # count over all latents: k per real token, BOS excluded
    np.testing.assert_array_equal(np.asarray(feats[("count", 0)].sum(1)).ravel(), 4 * n_tok)
    # top-1 per token: one latent per token
    assert ("count", 20) in feats
    # sum pooling equals the SAE applied to the streamed non-BOS tokens, summed
    first = {i: a for i, a, _ in activations.iter_token_acts(real_model, ds.texts[:3], hook, max_len=p.max_len,
                                                               progress=False)}
    with torch.no_grad():
        want = sae.encode(first[0]).sum(0).numpy()
    np.testing.assert_allclose(feats[("sum", 0)][0].toarray()[0], want, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(feats[("last", 0)][0].toarray()[0], sae.encode(first[0])[-1].detach().numpy(),
                               rtol=1e-4, atol=1e-3)
    # second call: served from the cache (no model given, identity from the model's marker)
    again = mosaic.sae_features(p, "87_glue_cola", by_hook, model=real_model, progress=False)[(hook, "rand")]
    assert (again[("count", 0)] != feats[("count", 0)]).nnz == 0
    # end to end: TF-IDF, hidden state, binarized SAE counts; one row per (config, C)
    cfgs = [mosaic.Config("tfidf"), mosaic.Config("hidden", layer=4, pooling="last"),
            mosaic.Config("sae", 4, "rand", 64, "count", 0, 1.0)]
    df = mosaic.evaluate(p, "87_glue_cola", cfgs, saes_by_hook=by_hook, model=real_model, progress=False)
    assert len(df) == 3 * 2 and df["test_f1"].between(0, 1).all()
    assert set(df["config"]) == {c.label for c in cfgs}
