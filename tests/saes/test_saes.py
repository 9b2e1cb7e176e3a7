"""saeprobe.saes: training (each architecture), save/load, determinism, sparse encoding, pooling, checks.

Real activations of the offline Gemma 3 270M (layer 4, a few short texts) feed tiny SAEs trained
for a few dozen steps; everything else uses hand-made tensors. Runs in well under a minute.
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import torch  # noqa: E402

from saeprobe import saes
from saeprobe.saes import SAESpec

HOOK = "blocks.4.hook_resid_post"
TEXTS = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Paris is the capital of France, and Berlin is the capital of Germany.",
    "She opened the window and let the cold morning air into the kitchen.",
    "def add(a, b):\n    return a + b  # a tiny Python function",
    "Stock markets fell sharply on Monday after the central bank raised rates.",
    "The mitochondria is the powerhouse of the cell, according to biology textbooks.",
    "I can't believe how good this movie was; the acting was superb!",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "The committee will meet again next Thursday to discuss the budget proposal.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "He scored twenty points in the final quarter to win the championship game.",
    "Los gatos duermen mucho durante el día y cazan por la noche.",
] * 2


@pytest.fixture(scope="module")
def acts(real_model):
    """Real non-BOS token activations at layer 4: [N, 640] float32 (N ~ 400)."""
    from saeprobe.core.activations import iter_token_acts

    rows = [a for _, a, _ in iter_token_acts(real_model, TEXTS, HOOK, max_len=32, batch_size=24, progress=False)]
    x = torch.cat(rows)
    assert x.shape[1] == real_model.cfg.d_model and x.shape[0] > 300
    return x


def _spec(arch, **kw):
    sparsity = {"topk": {"k": 8}, "standard": {"l1_coefficient": 2.0}, "jumprelu": {"target_l0": 8}}[arch]
    lr = 1e-2 if arch == "jumprelu" else 3e-3  # JumpReLU's threshold moves ~lr per step: faster in few steps
    base = dict(arch=arch, width=128, seed=0, tokens=64 * 40, batch_size=64, lr=lr, warmup_steps=2)
    return SAESpec(**{**base, **sparsity, **kw})


_TRAINED = {}


def _trained(arch, acts):
    if arch not in _TRAINED:
        _TRAINED[arch] = saes.train_sae(_spec(arch), acts, hook=HOOK, model_name="gemma-3-270m", progress=False)
    return _TRAINED[arch]


@pytest.mark.real
@pytest.mark.parametrize("arch", ["topk", "standard", "jumprelu"])
def test_train_loss_decreases_and_roundtrip(arch, acts, real_model, tmp_path):
    sae, hist = _trained(arch, acts)
    assert type(sae).__name__ == {"topk": "TopKSAE", "standard": "StandardSAE", "jumprelu": "JumpReLUSAE"}[arch]
    first, last = np.mean(hist["mse"][:3]), np.mean(hist["mse"][-3:])
    assert last < 0.8 * first, f"{arch}: mse {first:.1f} -> {last:.1f}"
    assert hist["fve"][-1] > hist["fve"][0]
    m = saes.reconstruction_metrics(sae, acts)
    assert m["fve"] > 0.3 and 0 < m["l0"] < sae.cfg.d_sae
    # the saved SAE takes raw activations (scale folded in) and round-trips exactly
    folder = saes.save_sae(sae, tmp_path / "sae", {"key": "k", "metrics": {"fve": m["fve"]}})
    back = saes.load_sae(folder, real_model, hook=HOOK)
    assert saes.sae_state_equal(sae, back)
    assert back.saeprobe_manifest["metrics"]["fve"] == m["fve"]
    assert torch.equal(sae.encode(acts[:50]), back.encode(acts[:50]))
    assert saes.validate_folder(folder, {"key": "k"}) is not None
    assert saes.validate_folder(folder, {"key": "other"}) is None


@pytest.mark.real
def test_seed_determinism(acts):
    a, _ = _trained("topk", acts)
    b, _ = saes.train_sae(_spec("topk"), acts, hook=HOOK, progress=False)
    c, _ = saes.train_sae(_spec("topk", seed=1), acts, hook=HOOK, progress=False)
    assert saes.sae_state_equal(a, b)
    assert not torch.equal(a.W_dec, c.W_dec)


@pytest.mark.real
@pytest.mark.parametrize("arch", ["topk", "standard", "jumprelu"])
def test_sparse_encode_equals_dense(arch, acts, tmp_path):
    sae, _ = _trained(arch, acts)
    dense = saes.dense_encode(sae, acts)
    csr = saes.encode(sae, acts, batch_rows=37)
    assert sp.issparse(csr) and csr.shape == dense.shape
    # row batching changes BLAS blocking: equal up to float rounding, and the same active latents
    np.testing.assert_allclose(csr.toarray(), dense, rtol=1e-5, atol=1e-5)
    assert ((csr.toarray() != 0) == (dense != 0)).mean() > 0.999
    # per-row top-k keeps exactly the k largest
    idx, val = saes.encode_topk(sae, acts[:20], 3)
    np.testing.assert_allclose(val, -np.sort(-dense[:20], axis=1)[:, :3])
    # the disk-streamed encoder (column blocks) agrees with sae-lens
    folder = saes.save_sae(sae, tmp_path / arch, {"key": arch})
    disk = saes.encode(saes.DiskEncoder(folder, col_block=48), acts, batch_rows=50)
    np.testing.assert_allclose(disk.toarray(), dense, rtol=1e-4, atol=1e-4)


@pytest.mark.real
def test_d_in_and_hook_mismatch(real_model, acts):
    from sae_lens import TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    small = TopKSAE(TopKSAEConfig(d_in=32, d_sae=64, k=4, metadata=SAEMetadata(hook_name=HOOK)))
    with pytest.raises(ValueError, match="d_in 32.*640"):
        saes.check_compat(small, model=real_model)
    with pytest.raises(ValueError, match="width 640 does not match the SAE's d_in 32"):
        saes.encode(small, acts[:4])
    sae, _ = _trained("topk", acts)
    with pytest.raises(ValueError, match="reads hook 'blocks.4.hook_resid_post'"):
        saes.check_compat(sae, model=real_model, hook="blocks.12.hook_resid_post")


def test_offline_hub_spec_names_local_sae(monkeypatch):
    from saeprobe.core.config import load_profile

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    prof = load_profile("cpu")
    with pytest.raises(saes.SAEUnavailableOffline, match="local SAE"):
        saes.load_sae("gemma-scope-2-270m-pt-res/layer_12_width_16k_l0_medium", profile=prof)
    with pytest.raises(ValueError, match="neither a folder"):
        saes.load_sae("no-such-release/whatever")


def test_pool_token_codes_hand_made():
    codes = sp.csr_matrix(np.array([[3.0, 0.5, 0.0, 2.0],
                                    [0.0, 1.5, 0.0, 4.0],
                                    [0.2, 0.0, 0.0, 0.0]], dtype=np.float32))
    pool = lambda *a, **k: saes.pool_token_codes(codes, *a, **k).toarray()[0]  # noqa: E731
    np.testing.assert_allclose(pool("sum"), [3.2, 2.0, 0.0, 6.0])
    np.testing.assert_allclose(pool("count"), [2, 2, 0, 2])
    np.testing.assert_allclose(pool("max"), [3.0, 1.5, 0.0, 4.0])
    np.testing.assert_allclose(pool("mean"), [3.2 / 3, 2.0 / 3, 0.0, 2.0])
    # top-1 per token: token0 -> latent0 (3.0), token1 -> latent3 (4.0), token2 -> latent0 (0.2)
    np.testing.assert_allclose(pool("sum", top_n=1), [3.2, 0.0, 0.0, 4.0])
    np.testing.assert_allclose(pool("count", top_n=1), [2, 0, 0, 1])
    np.testing.assert_allclose(pool("sum", binarize=1.0), [1, 1, 0, 1])
    np.testing.assert_allclose(pool("max", binarize=2.0), [1, 0, 0, 1])
    np.testing.assert_allclose(pool("sum", top_n=1, binarize=0.0), [1, 0, 0, 1])
    with pytest.raises(ValueError, match="unknown pooling"):
        saes.pool_token_codes(codes, "median")


@pytest.mark.real
def test_ce_loss_delta(real_model, acts):
    class Identity(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.W_enc = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x

    texts = TEXTS[:2]
    ident = saes.ce_loss_delta(real_model, Identity(), texts, HOOK, max_len=16, mean_act=acts.mean(0))
    assert ident["ce_delta"] == pytest.approx(0.0, abs=1e-5) and ident["ce_recovered"] == pytest.approx(1.0, abs=1e-4)
    sae, _ = _trained("topk", acts)
    res = saes.ce_loss_delta(real_model, sae, texts, HOOK, max_len=16, mean_act=acts.mean(0))
    assert res["ce_delta"] > 0 and res["ce_mean_ablation"] > res["ce_clean"]
    assert np.isfinite(res["ce_recovered"])


def test_specs_from_profile():
    from saeprobe.core.config import load_profile

    for name in ("smoke", "cpu"):
        prof = load_profile(name)
        specs = saes.sae_specs(prof)
        assert {s.arch for s in specs} >= {"topk", "standard", "jumprelu"}, name
        assert len({s.name for s in specs}) == len(specs)
    prof = load_profile("cpu")
    for arch in ("topk", "standard"):
        assert len(saes.select_specs(prof, arch=arch, width=4096)) >= 3, arch
    with pytest.raises(ValueError, match="needs k"):
        SAESpec(arch="topk", width=16)
    with pytest.raises(ValueError, match="unknown SAE architecture"):
        SAESpec(arch="gated", width=16, k=2)


@pytest.mark.real
def test_training_corpus_excludes_eval_texts():
    from saeprobe.core import data
    from saeprobe.core.config import load_profile

    prof = load_profile("smoke")
    texts, info = saes.training_texts(prof)
    assert set(info["datasets"]).isdisjoint(prof.dataset_names())
    pool = set(texts)
    for n in prof.dataset_names():
        assert pool.isdisjoint(data.load_dataset(n).texts), n
    for n in data.list_datasets("ood"):
        assert pool.isdisjoint(data.load_ood(n).texts), n
    assert len(texts) > 1000 and len(pool) == len(texts)


def test_save_is_atomic_and_corruption_detected(tmp_path):
    from sae_lens import TopKSAE, TopKSAEConfig

    torch.manual_seed(0)
    sae = TopKSAE(TopKSAEConfig(d_in=8, d_sae=16, k=2))
    folder = saes.save_sae(sae, tmp_path / "a", {"key": "x"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]  # no temp folder left behind
    assert saes.validate_folder(folder, {"key": "x"}) is not None
    w = folder / "sae_weights.safetensors"
    raw = bytearray(w.read_bytes())
    raw[-1] ^= 0xFF
    w.write_bytes(bytes(raw))
    assert saes.validate_folder(folder, {"key": "x"}) is None
    with pytest.raises(ValueError, match="checksum"):
        saes.load_sae(folder)
    saes.save_sae(sae, folder, {"key": "x"})  # overwriting a bad entry works
    assert saes.sae_state_equal(saes.load_sae(folder), sae)


def test_get_sae_cached_needs_no_model(tmp_profile, real_model, monkeypatch):
    """A trained SAE is found and loaded from the cache without loading the model (P1 notebooks
    read cached SAEs only); a miss still loads the model and trains."""
    import saeprobe.core.models as models

    spec = saes.select_specs(tmp_profile, arch="topk", width=128)[0]
    monkeypatch.setattr(models, "load_profile_model", lambda profile: real_model)
    trained = saes.get_sae(tmp_profile, spec, metrics=False, progress=False)  # miss: model via load_profile_model

    def no_model(profile):
        raise AssertionError("the model was loaded although the SAE is cached")

    monkeypatch.setattr(models, "load_profile_model", no_model)
    again = saes.get_sae(tmp_profile, spec, progress=False)
    assert saes.sae_state_equal(again, trained)
    assert again.saeprobe_manifest["key"] == trained.saeprobe_manifest["key"]
