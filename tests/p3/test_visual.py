"""saeprobe.p3.visual: MOSAIC's VLM image classification, its code path run offline on a tiny random
LLaVA-style model (built from a transformers config) with scikit-learn's bundled digit images and a
tiny random sae-lens SAE. A test of the code, not a result: nothing here says anything about MOSAIC."""
import numpy as np
import pytest
import torch

from saeprobe import load_profile
from saeprobe.core import models
from saeprobe.p3 import select
from saeprobe.p3.settings import MOSAIC_VISUAL, visual_settings
from saeprobe.p3 import visual

LAYER = 1            # the tiny language model has 3 blocks; the SAE reads block 1's output
N_IMG_TOKENS = 16    # 32x32 images, 8x8 patches, CLS dropped ("default" feature select strategy)
D, D_SAE = 32, 64


@pytest.fixture(scope="module")
def tiny_vlm():
    """A random 2-block CLIP vision tower + 3-block Gemma language model, wired as LLaVA, with a
    Gemma-style chat template, so that the prompt is ``<bos><start_of_turn>user\\n<image>x16...``
    (image tokens at 4..20, like MOSAIC's 4..580 for LLaVA-Gemma-2B)."""
    import transformers
    from tokenizers import Tokenizer, pre_tokenizers
    from tokenizers import models as tok_models
    from transformers import (CLIPVisionConfig, GemmaConfig, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaProcessor, PreTrainedTokenizerFast)

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>", "<image>"]
    vocab = {t: i for i, t in enumerate(specials + ["\n", "user", "model"])}
    tk = Tokenizer(tok_models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.Split(pattern="\n", behavior="isolated")
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                  unk_token="<unk>", additional_special_tokens=specials[4:])
    tok.chat_template = ("{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}"
                         "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
    ip_cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    ip = ip_cls(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                          num_additional_image_tokens=1, chat_template=tok.chat_template)
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                       image_size=32, patch_size=8),
        text_config=GemmaConfig(vocab_size=len(vocab), hidden_size=D, intermediate_size=64, num_hidden_layers=3,
                                num_attention_heads=2, num_key_value_heads=1, head_dim=16),
        image_token_id=vocab["<image>"], vision_feature_layer=-2, vision_feature_select_strategy="default")
    torch.manual_seed(0)
    return LlavaForConditionalGeneration(cfg).eval(), proc


@pytest.fixture(scope="module")
def digits():
    """200 of scikit-learn's bundled 8x8 digit images as RGB PIL images, and their labels (10 classes)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    rows = visual.subsample(d.target, 200, 42)
    images = [Image.fromarray((d.images[i] * 255 / 16).astype(np.uint8)).convert("RGB") for i in rows]
    return images, d.target[rows].astype(np.int64)


@pytest.fixture(scope="module")
def tiny_sae():
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(1)
    sae = StandardSAE(StandardSAEConfig(d_in=D, d_sae=D_SAE, metadata=SAEMetadata(hook_name=f"blocks.{LAYER}.hook_resid_post")))
    with torch.no_grad():
        sae.b_enc.normal_(0, 0.5)  # some latents on, some off
    return sae.eval()


@pytest.fixture()
def vprof(tmp_path):
    return load_profile("smoke", home=str(tmp_path), p3={"visual": {
        "sae": f"tiny/blocks.{LAYER}.hook_resid_post", "layer": LAYER, "token_slice": [4, 4 + N_IMG_TOKENS],
        "batch_size": 32, "poolings": ["count", "sum", "mean", "max"], "top_n": [0, 4], "top_n_poolings": ["count"],
        "binarize": [None, 1.0]}})


def test_profiles_name_mosaics_visual_setup():
    vs = visual_settings(load_profile("paper"))
    assert (vs.model, vs.sae, vs.token_slice, vs.dataset, vs.split, vs.max_images) == (
        MOSAIC_VISUAL["model"], MOSAIC_VISUAL["sae"], MOSAIC_VISUAL["token_slice"], MOSAIC_VISUAL["dataset"],
        MOSAIC_VISUAL["split"], None)
    assert vs.hidden_states_index == vs.layer + 1 == MOSAIC_VISUAL["hidden_states_index"] + 1  # the SAE's own hook
    for name in ("cpu", "smoke"):
        v = load_profile(name).p3.visual
        assert (v.model, v.sae) == (MOSAIC_VISUAL["model"], MOSAIC_VISUAL["sae"])


def test_visual_settings_fail_in_one_line():
    with pytest.raises(ValueError, match="reads block 12 but p3.visual.layer is 5"):
        visual_settings(load_profile("smoke", p3={"visual": {"layer": 5}}))
    with pytest.raises(ValueError, match="token_slice: expected"):
        visual_settings(load_profile("smoke", p3={"visual": {"token_slice": [580, 4]}}))
    with pytest.raises(ValueError, match="unknown key"):
        load_profile("smoke", p3={"visual": {"token_slise": [4, 580]}})


@pytest.mark.skipif(not models.hub_offline(), reason="needs HF_HUB_OFFLINE=1 (the default)")
def test_offline_nothing_runs_and_says_why(tmp_profile):
    av = visual.visual_available(tmp_profile)
    assert not av.available and "SAEPROBE_ONLINE" in av.reason
    for fn in (visual.load_vlm, visual.load_images, visual.run_visual):
        with pytest.raises(RuntimeError, match="not available"):
            fn(tmp_profile)


def test_prompt_and_image_positions(tiny_vlm, digits):
    model, proc = tiny_vlm
    prompt = visual.vlm_prompt(proc)
    assert prompt.startswith("<bos><start_of_turn>user\n<image>")
    ids = proc(text=[prompt] * 2, images=digits[0][:2], return_tensors="pt", padding=True)["input_ids"]
    pos = visual.image_positions(ids, model.config.image_token_id, (4, 4 + N_IMG_TOKENS))
    assert pos.tolist() == list(range(4, 4 + N_IMG_TOKENS))
    with pytest.raises(ValueError, match=r"positions 4\.\.20 \(16 tokens\), not p3.visual.token_slice \[4, 580\]"):
        visual.image_positions(ids, model.config.image_token_id, MOSAIC_VISUAL["token_slice"])


def test_hidden_states_index_is_the_block_output_the_sae_reads(tiny_vlm, digits):
    model, proc = tiny_vlm
    images = digits[0][:3]
    seen = {}
    layer_mod = model.model.language_model.layers[LAYER]
    h = layer_mod.register_forward_hook(lambda m, i, o: seen.__setitem__("out", (o[0] if isinstance(o, tuple) else o).detach()))
    try:
        (_, states, last), = visual.image_token_states(model, proc, images, hidden_states_index=LAYER + 1,
                                                       token_slice=(4, 4 + N_IMG_TOKENS), progress=False)
    finally:
        h.remove()
    assert states.shape == (3, N_IMG_TOKENS, D)
    torch.testing.assert_close(states, seen["out"][:, 4:4 + N_IMG_TOKENS].float())
    torch.testing.assert_close(last, seen["out"][:, -1].float())  # the prompt's last token ("model\n")
    (_, mosaic, _), = visual.image_token_states(model, proc, images, hidden_states_index=LAYER, progress=False)
    assert not torch.allclose(mosaic, states)  # MOSAIC's index reads one block earlier
    for bad in (0, 3):
        with pytest.raises(ValueError, match="hidden_states_index"):
            next(visual.image_token_states(model, proc, images, hidden_states_index=bad, progress=False))


def test_features_equal_direct_encoding_and_are_cached(vprof, tiny_vlm, digits, tiny_sae, monkeypatch):
    model, proc = tiny_vlm
    images, y = digits[0][:40], digits[1][:40]
    f = visual.visual_features(vprof, model, proc, tiny_sae, images, y, dataset="digits", progress=False)
    assert f.n_tokens == N_IMG_TOKENS and f.hidden["mean"].shape == f.hidden["last"].shape == (40, D)
    assert set(f.forms) == {("count", 0), ("count", 4), ("sum", 0), ("mean", 0), ("max", 0)}
    states = torch.cat([s for _, s, _ in visual.image_token_states(model, proc, images, hidden_states_index=LAYER + 1,
                                                                progress=False)])
    with torch.no_grad():
        codes = tiny_sae.encode(states).numpy()  # [40, 16, 64]
    np.testing.assert_allclose(f.forms[("count", 0)].toarray(), (codes > 0).sum(1), atol=0)
    np.testing.assert_allclose(f.forms[("sum", 0)].toarray(), codes.sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(f.forms[("max", 0)].toarray(), codes.max(1), rtol=1e-5, atol=1e-6)
    top4 = np.argsort(-codes, axis=2)[:, :, :4]
    want = np.zeros((40, D_SAE))
    for i in range(40):
        for t in range(N_IMG_TOKENS):
            keep = [j for j in top4[i, t] if codes[i, t, j] > 0]
            want[i, keep] += 1
    np.testing.assert_array_equal(f.forms[("count", 4)].toarray(), want)
    np.testing.assert_allclose(f.hidden["mean"], states.mean(1).numpy(), rtol=1e-6, atol=1e-6)
    assert 0 < f.forms[("count", 0)].nnz < 40 * D_SAE
    # a second call is a cache hit: the model is not run again
    monkeypatch.setattr(visual, "image_token_states", lambda *a, **k: (_ for _ in ()).throw(AssertionError("recomputed")))
    g = visual.visual_features(vprof, model, proc, tiny_sae, images, y, dataset="digits", progress=False)
    assert (g.forms[("count", 4)] != f.forms[("count", 4)]).nnz == 0
    np.testing.assert_array_equal(g.hidden["last"], f.hidden["last"])
    # other images -> another entry
    with pytest.raises(AssertionError, match="recomputed"):
        visual.visual_features(vprof, model, proc, tiny_sae, images[:39], y[:39], dataset="digits", progress=False)


def test_run_visual_end_to_end_on_the_tiny_model(vprof, tiny_vlm, digits, tiny_sae):
    model, proc = tiny_vlm
    images, y = digits
    res, feats = visual.run_visual(vprof, model=model, processor=proc, sae=tiny_sae, images=images, labels=y,
                                   dataset="sklearn-digits", progress=False)
    C_grid = vprof.p3.C_grid
    configs = visual.visual_configs(vprof, D_SAE)
    assert len(configs) == 5 * 2 + 2 and len(res) == len(configs) * len(C_grid)
    assert set(res.config) == {c.label for c in configs}
    assert (res.n_classes == 10).all() and (res.n_image_tokens == N_IMG_TOKENS).all()
    assert res.n_train.iloc[0] + res.n_test.iloc[0] == 200
    assert res[["val_f1", "test_f1", "train_f1"]].apply(lambda c: c.between(0, 1)).all().all()
    sel = select(res, "val")
    assert len(sel) == len(configs)
    row = sel.iloc[0]
    c = next(c for c in configs if c.label == row.config)
    yt, pred = visual.heldout_predictions(vprof, feats, c, row.C)
    from saeprobe.p3 import macro_f1
    assert macro_f1(yt, pred) == pytest.approx(row.test_f1)
    out = visual.summarize_visual(vprof, res, feats)  # what page 45 shows with hub access
    t = out["table"]
    assert len(t) == len(configs) and t.val_f1.is_monotonic_decreasing
    assert (t.test_selected_f1 >= t.test_f1 - 1e-12).all()  # test-selected C is the max over C
    assert out["best"].features == "sae" and out["hidden"].config == "hidden last L1"
    assert out["compare"]["f1_a"] == pytest.approx(out["best"].test_f1)
    assert out["compare"]["f1_b"] == pytest.approx(out["hidden"].test_f1)
    lo, hi = out["compare"]["lo"], out["compare"]["hi"]
    assert out["verdict"] == ("beat" if lo > 0 else "trail" if hi < 0 else "cannot be told apart from")


def test_paired_bootstrap_f1():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 300)
    same = visual.paired_bootstrap_f1(y, y, y, n_boot=200)
    assert same["diff"] == 0 and same["lo"] == same["hi"] == 0
    noisy = np.where(rng.random(300) < 0.5, y, (y + 1) % 5)
    r = visual.paired_bootstrap_f1(y, y, noisy, n_boot=200)
    assert r["f1_a"] == 1.0 and 0 < r["lo"] <= r["diff"] <= r["hi"]
    from sklearn.metrics import f1_score
    other = np.where(rng.random(300) < 0.3, y, rng.integers(0, 7, 300))  # predicts classes absent from y too
    assert visual.paired_bootstrap_f1(y, other, y, n_boot=10)["f1_a"] == pytest.approx(
        f1_score(y, other, average="macro", zero_division=0))


def test_bf16_model_gives_float32_states(tiny_vlm, digits):
    """The GPU path loads the VLM in bfloat16: pixel values follow the model's dtype, states come back fp32."""
    import copy

    model, proc = tiny_vlm
    half = copy.deepcopy(model).to(torch.bfloat16)
    (_, s16, _), = visual.image_token_states(half, proc, digits[0][:2], hidden_states_index=LAYER + 1, progress=False)
    (_, s32, _), = visual.image_token_states(model, proc, digits[0][:2], hidden_states_index=LAYER + 1, progress=False)
    assert s16.dtype == torch.float32 and s16.shape == s32.shape
    assert torch.corrcoef(torch.stack([s16.flatten(), s32.flatten()]))[0, 1] > 0.99
