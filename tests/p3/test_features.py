"""saeprobe.p3.features: pooling, binarization, the profile's SAE table, and one real-model run of the
pooled-feature cache (offline Gemma 3 270M, a few texts) feeding protocol.evaluate end to end."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402

from saeprobe.core.cache import results_dir  # noqa: E402
from saeprobe.p3 import features, protocol  # noqa: E402
from saeprobe.p3.settings import p3_profile  # noqa: E402

# 3 tokens x 6 latents, hand-made (BOS already excluded, as pool_text's contract says)
CODES = sp.csr_matrix(np.array([
    [0.0, 3.0, 0.5, 0.0, 2.0, 0.0],
    [1.5, 0.0, 0.2, 0.0, 4.0, 0.0],
    [0.0, 0.9, 0.0, 0.0, 0.0, 7.0],
], dtype=np.float32))


def test_pool_text_sum_count_topn_last():
    out = features.pool_text(CODES, ("count", "sum", "max", "mean", "last"), (0, 1, 2), ("count", "sum"))
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
    counts = features.pool_text(CODES, ("count",), (0,))[("count", 0)]
    np.testing.assert_array_equal(features.binarize(counts, 1.0).toarray()[0], [0, 1, 1, 0, 1, 0])  # MOSAIC: X > 1
    np.testing.assert_array_equal(features.binarize(counts, 0.0).toarray()[0], [1, 1, 1, 0, 1, 1])  # ever active
    assert features.binarize(counts, None) is counts
    dense = np.array([[0.5, 1.0, 1.5]])
    np.testing.assert_array_equal(features.binarize(dense, 1.0), [[0, 0, 1]])


def test_layer_key_and_by_layer():
    assert features.layer_key("blocks.12.hook_resid_post") == 12
    assert features.layer_key("embed") == "embed"
    assert features.by_layer({("blocks.4.hook_resid_post", "a"): 1}) == {(4, "a"): 1}


def test_sae_table_one_per_layer_width_and_main_width(tmp_profile):
    t = features.sae_table(tmp_profile)
    assert not t.duplicated(["layer", "width"]).any()
    assert set(t.arch) == {"topk"}  # the first arch of the smoke sae: section
    assert set(t[t["main"]].width) == {256}  # the width of its first SAE
    assert set(t.layer) == {4, 8, 12}
    with pytest.raises(ValueError, match="main_width"):
        features.sae_table(tmp_profile.replace(p3={"main_width": 999}))


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
    p = p3_profile(prof)
    ds = data.load_dataset("87_glue_cola", max_rows=12, seed=42)
    hook = "blocks.4.hook_resid_post"
    sae = _random_topk_sae(real_model.cfg.d_model)
    by_hook = {hook: {"rand": sae}}
    feats = features.sae_features(p, "87_glue_cola", by_hook, model=real_model, progress=False)[(hook, "rand")]
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
    again = features.sae_features(p, "87_glue_cola", by_hook, model=real_model, progress=False)[(hook, "rand")]
    assert (again[("count", 0)] != feats[("count", 0)]).nnz == 0
    cached = list((p.home_dir / "p3" / "features").rglob("*.safetensors"))
    assert len(cached) == 1
    # end to end: TF-IDF, hidden state, binarized SAE counts; one row per (config, C)
    cfgs = [protocol.Config("tfidf"), protocol.Config("hidden", layer=4, pooling="last"),
            protocol.Config("sae", 4, "rand", 64, "count", 0, 1.0)]
    df = protocol.evaluate(p, "87_glue_cola", cfgs, saes_by_hook=by_hook, model=real_model, progress=False)
    assert len(df) == 3 * 2 and df["test_f1"].between(0, 1).all()
    assert set(df["config"]) == {c.label for c in cfgs}
    # the per-dataset results JSON lives under results/p3/<profile>, with no temporary file left
    written = sorted(results_dir(p, "p3").iterdir())
    assert [f.suffix for f in written] == [".json"] and written[0].name.startswith("87_glue_cola.")
    assert not (p.home_dir / "p3" / "results").exists()
    # a second evaluate is served from that JSON (same numbers)
    df2 = protocol.evaluate(p, "87_glue_cola", cfgs, saes_by_hook=by_hook, model=real_model, progress=False)
    assert df2[["config", "C", "val_f1", "test_f1"]].equals(df[["config", "C", "val_f1", "test_f1"]])
