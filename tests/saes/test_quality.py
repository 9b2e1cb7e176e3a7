"""SAE quality with CIs (saeprobe.saes.quality): against a hand computation on a tiny SAE, the CE
splice leaves BOS alone, identity SAE recovers all of the CE loss, the cache answers reruns."""
import numpy as np
import pytest
import torch

from saeprobe.core.activations import iter_token_acts
from saeprobe.saes.corpus import TokenCorpus
from saeprobe.saes.metrics import splice_hook
from saeprobe.saes.quality import per_text_reconstruction, quality, ratio_ci


class Diag(torch.nn.Module):
    """A hand-made 'SAE': codes relu(x * w) per dimension, reconstruction codes / w (exact where x > 0)."""

    def __init__(self, d, w=2.0):
        super().__init__()
        self.W_enc = torch.nn.Parameter(torch.full((d,), float(w)))
        self.cfg = type("cfg", (), {"d_sae": d, "d_in": d})()

    def encode(self, x):
        return torch.relu(x * self.W_enc)

    def decode(self, z):
        return z / self.W_enc

    def forward(self, x):
        return self.decode(self.encode(x))


def test_reconstruction_against_a_hand_computation():
    x = torch.tensor([[1.0, -1.0], [2.0, 3.0], [-1.0, -2.0]])
    tix = torch.tensor([0, 0, 1])
    sse, sst, active, counts, fired = per_text_reconstruction(Diag(2), x, tix)
    xh = torch.clamp(x, min=0)  # what Diag reconstructs
    mean = x.mean(0)
    np.testing.assert_allclose(sse, [((xh - x)[:2] ** 2).sum(), ((xh - x)[2:] ** 2).sum()])
    np.testing.assert_allclose(sst, [((x - mean)[:2] ** 2).sum(), ((x - mean)[2:] ** 2).sum()])
    np.testing.assert_allclose(active, [3, 0]) and np.testing.assert_array_equal(counts, [2, 1])
    assert fired.tolist() == [True, True]
    fve, lo, hi = ratio_ci(sse, sst, transform=lambda r: 1 - r)
    assert fve == pytest.approx(1 - sse.sum() / sst.sum()) and lo <= fve <= hi
    assert ratio_ci([1.0], [2.0]) == (0.5, pytest.approx(np.nan, nan_ok=True), pytest.approx(np.nan, nan_ok=True))


def test_splice_replaces_every_position_but_bos():
    act = torch.randn(2, 5, 3)
    out = splice_hook(lambda_module(lambda x: torch.zeros_like(x)))(act, None)
    assert torch.equal(out[:, 0], act[:, 0]) and torch.count_nonzero(out[:, 1:]) == 0


def lambda_module(fn):
    class M(torch.nn.Module):
        W_enc = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return fn(x)
    return M()


def _corpus(model, hook, texts):
    rows, tix = [], []
    for i, a, _ in iter_token_acts(model, texts, hook, max_len=24, batch_size=4, progress=False):
        rows.append(a)
        tix += [i] * a.shape[0]
    acts = torch.cat(rows)
    tix = torch.tensor(tix)
    held = tix >= len(texts) // 2  # the second half of the texts is held out
    order = torch.argsort(tix, stable=True)
    acts, tix, held = acts[order], tix[order], held[order]
    return TokenCorpus(hook, acts, torch.zeros(len(tix), dtype=torch.long), tix, held, list(texts), {"key": "t"})


def test_identity_sae_recovers_all_ce_and_a_broken_one_none(tiny_model):
    hook = "blocks.1.hook_resid_post"
    texts = ["the cat sat on the mat today", "a dog ran in the park", "rain fell on the roof all night",
             "we ate bread and cheese", "the sun rose over the hills", "birds sang in the old tree"] * 2
    corpus = _corpus(tiny_model, hook, texts)
    ident = lambda_module(lambda x: x)
    ident.cfg = type("cfg", (), {"d_sae": 16})()
    ident.encode, ident.decode = (lambda x: x), (lambda z: z)
    q = quality(ident, corpus, tiny_model, ce_texts=6, ce_max_len=24, n_boot=200)
    assert q["fve"] == pytest.approx(1.0) and q["ce_recovered"] == pytest.approx(1.0, abs=1e-6)
    assert q["ce_delta"] == pytest.approx(0.0, abs=1e-6) and q["n_ce_texts"] == 6 and q["n_ce_tokens"] > 20
    mean = corpus.train.mean(0)
    const = lambda_module(lambda x: mean.expand_as(x))
    const.cfg = ident.cfg
    const.encode, const.decode = (lambda x: x), (lambda z: mean.expand_as(z))
    q0 = quality(const, corpus, tiny_model, ce_texts=6, ce_max_len=24, n_boot=200)
    assert q0["ce_recovered"] == pytest.approx(0.0, abs=1e-6)  # splicing the mean = mean ablation
    assert q0["ce_recovered_lo"] <= q0["ce_recovered"] <= q0["ce_recovered_hi"]
    assert q0["ce_mean_ablated"] != q0["ce_clean"]  # (a random tiny model: either side of clean)


def test_spec_keys_of_older_saes_are_unchanged():
    from saeprobe.saes import SAESpec

    d = SAESpec(arch="topk", width=64, k=8).to_dict()
    assert "aux_coefficient" not in d and "decoder_init_norm" not in d and "matryoshka_widths" not in d
    assert SAESpec(arch="topk", width=64, k=8, aux_coefficient=0.0).to_dict()["aux_coefficient"] == 0.0
    assert SAESpec(arch="matryoshka", width=64, k=8).to_dict()["matryoshka_widths"] == (8, 16, 64)


def test_whole_number_sparsity_keeps_its_cache_key():
    """A YAML ``target_l0: 32`` stays the int 32 (the key SAEs were trained under), 32.5 stays a float."""
    from saeprobe import saes
    from saeprobe.core.config import load_profile

    prof = load_profile("cpu")
    jr = [s for s in saes.sae_specs(prof) if s.arch == "jumprelu"][0]
    assert type(jr.target_l0) is int and jr.to_dict()["target_l0"] == 32
    p2 = load_profile("cpu", sae={"saes": [{"arch": "jumprelu", "width": 64, "target_l0": 32.5}]})
    assert type(saes.sae_specs(p2)[0].target_l0) is float


def test_quality_note_names_the_saes_below_the_bar():
    import pandas as pd

    from saeprobe.saes import quality_note

    t = pd.DataFrame({"sae": ["a", "b"], "ce_recovered": [0.9, 0.5], "ce_recovered_lo": [0.85, 0.4],
                      "ce_recovered_hi": [0.95, 0.6]})
    note = quality_note(t, target=0.7)
    assert "1 of 2 fall below" in note and "(b)" in note and "a 0.90 [0.85, 0.95]" in note
    assert "Every one reaches" in quality_note(t.iloc[:1], target=0.7)
    assert "No SAE quality" in quality_note(t.iloc[:0])
