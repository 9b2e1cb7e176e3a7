"""P1's architecture comparison (notebook 19): every architecture spec of the profiles trains with
sae-lens on a tiny real corpus and lands near its L0 target; the win-rate rule is P1's.

Real activations of the offline Gemma 3 270M (layer 4, a few short texts); each SAE trains for a few
dozen steps (seconds).
"""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

from dataclasses import replace  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from saeprobe import load_profile, saes
from saeprobe.p1.architectures import architecture_specs, listed, win_rates

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
    "The library opens at nine and closes at five on weekdays.",
    "A strong earthquake shook the coastal city early this morning.",
    "Add two cups of flour, a pinch of salt and stir until smooth.",
    "The orchestra played Beethoven's ninth symphony to a full hall.",
]


@pytest.fixture(scope="module")
def acts(real_model):
    """Real non-BOS token activations at layer 4: [N, 640] float32 (N ~ 250)."""
    from saeprobe.core.activations import iter_token_acts

    rows = [a for _, a, _ in iter_token_acts(real_model, TEXTS, HOOK, max_len=32, batch_size=16, progress=False)]
    x = torch.cat(rows)
    assert x.shape[1] == real_model.cfg.d_model and x.shape[0] > 200
    return x


def test_profiles_list_every_architecture_once_and_reuse_listed_saes():
    for name in ("smoke", "cpu"):
        prof = load_profile(name)
        specs = architecture_specs(prof)
        assert {s.arch for s in specs} == {"topk", "standard", "jumprelu", "batchtopk", "matryoshka"}
        assert all(s.seed == 0 and s.layer == prof.main_layer for s in specs)
        # the three architectures sae.saes already trains are the same SAEs (same cache key) ...
        assert {s.arch for s in specs if listed(prof, s)} == {"topk", "standard", "jumprelu"}
        # ... and every SAE is trained on the main SAE's budget and recipe
        e = prof.sae.saes[prof.p1.architectures.entry]  # the entry whose budget they share
        main = next(x for x in saes.sae_specs(prof) if (x.arch, x.width, x.k, x.seed) == (e.arch, e.width, e.k, 0)
                    and x.layer in (None, prof.main_layer))
        for s in specs:
            assert (s.tokens, s.batch_size, s.lr, s.width) == (main.tokens, main.batch_size, main.lr, main.width)
    with pytest.raises(ValueError, match="more than once"):
        prof = load_profile("smoke", p1={"architectures": {"saes": [{"arch": "topk", "width": 64, "k": 8},
                                                                    {"arch": "top_k", "width": 64, "k": 4}]}})
        architecture_specs(prof)


@pytest.mark.real
def test_every_architecture_trains_near_its_l0(acts):
    """Each smoke architecture spec (width 256, L0 target 16), trained 60 steps on ~165 tokens: TopK
    exactly at k, BatchTopK / Matryoshka (inference threshold) and JumpReLU (L0 target) near 16.
    ReLU + L1 has no L0 target -- its coefficient is calibrated on the real corpus (the page checks
    the matched L0 there) -- so here: sparse, and sparser as the coefficient grows."""
    prof = load_profile("smoke")
    target = 16
    train, held = acts[: acts.shape[0] * 3 // 4], acts[acts.shape[0] * 3 // 4:]
    got = {}
    for spec in architecture_specs(prof):
        spec = replace(spec, tokens=64 * 60, batch_size=64, warmup_steps=2, lr=1e-2 if spec.arch == "jumprelu" else spec.lr)
        sae, hist = saes.train_sae(spec, train, hook=HOOK, model_name="gemma-3-270m", progress=False)
        m = saes.reconstruction_metrics(sae, held)
        got[spec.arch] = m["l0"]
        assert np.mean(hist["mse"][-3:]) < np.mean(hist["mse"][:3]), spec.arch
        assert m["fve"] > 0.2, (spec.arch, m["fve"])
        if spec.arch == "standard":
            sparser, _ = saes.train_sae(replace(spec, l1_coefficient=4 * spec.l1_coefficient), train, hook=HOOK,
                                        progress=False)
            got["standard_x4"] = saes.reconstruction_metrics(sparser, held)["l0"]
    assert got["topk"] == pytest.approx(target, abs=0.01)
    for arch in ("batchtopk", "matryoshka"):
        assert 0.6 * target <= got[arch] <= 1.4 * target, (arch, got[arch])
    assert 0.5 * target <= got["jumprelu"] <= 2.0 * target, got["jumprelu"]
    assert got["standard"] < 256 / 2 and got["standard_x4"] < 0.7 * got["standard"], got


def test_win_rates_use_the_margin():
    base = pd.Series([0.90, 0.90, 0.90, 0.90], index=list("abcd"))
    sae = pd.Series([0.906, 0.904, 0.896, 0.80], index=list("abcd"))
    r = win_rates(sae, base, margin=0.005, n_boot=200)
    assert (r["n_win"], r["n_tie"], r["n_loss"], r["n"]) == (1, 2, 1, 4)
    assert r["win"] == 0.25 and r["tie"] == 0.5 and r["loss"] == 0.25
    assert r["win_lo"] <= r["win"] <= r["win_hi"]
    # datasets missing from either side are dropped
    r2 = win_rates(sae.drop("a"), base, margin=0.005, n_boot=200)
    assert r2["n"] == 3 and r2["n_win"] == 0
    # margin 0: every non-equal pair decides
    r3 = win_rates(sae, base, margin=0.0, n_boot=200)
    assert r3["n_win"] == 2 and r3["n_loss"] == 2 and np.isclose(r3["tie"], 0)


def test_arch_verdict_follows_the_cis():
    from saeprobe.p1.architectures import arch_verdict

    def row(label, win, lo, hi, loss, llo, lhi, diff_hi):
        return {"label": label, "k": 16, "n": 20, "win": win, "win_lo": lo, "win_hi": hi, "loss": loss, "loss_lo": llo,
                "loss_hi": lhi, "diff": diff_hi - 0.01, "diff_lo": diff_hi - 0.02, "diff_hi": diff_hi}

    t = pd.DataFrame([row("A", 0.6, 0.45, 0.75, 0.1, 0.0, 0.2, 0.02), row("B", 0.1, 0.0, 0.2, 0.7, 0.5, 0.85, -0.01)])
    s = arch_verdict(t, k=16)
    assert "A beats the strong baselines" in s and "1 of 2 lose more often" in s and "1 of 2 have a mean AUC below" in s
    assert "do not overlap: the architecture matters" in s
    t2 = pd.DataFrame([row("A", 0.2, 0.05, 0.4, 0.5, 0.3, 0.7, -0.01), row("B", 0.2, 0.05, 0.4, 0.5, 0.3, 0.7, -0.01)])
    s2 = arch_verdict(t2, k=16)
    assert s2.startswith("At k = 16: No architecture beats") and "every architecture wins on 20%" in s2
    assert "few datasets" in arch_verdict(t2.assign(n=1), k=16)
