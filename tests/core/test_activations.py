"""saeprobe.activations and saeprobe.cache: extraction, reducers, streaming, the on-disk cache."""
import json

import pytest
import torch

from saeprobe.core import activations as A
from saeprobe.core.cache import atomic_save, key_for, load_checked

TEXTS = ["The cat sat on the mat.", "One, two, three, four,", "Paris is the capital of France and",
         "A much longer sentence, with commas, clauses and quite a few more tokens than the others have."]
H0, H1 = "blocks.0.hook_resid_post", "blocks.1.hook_resid_post"


# ----------------------------------------------------------------------------- tiny model: shapes
def test_extract_shapes_and_input_order(tiny_model):
    out = A.extract(tiny_model, TEXTS, [H0, H1], max_len=64, batch_size=3, progress=False)
    assert set(out) == {H0, H1} and set(out[H0]) == {"last", "mean", "max"}
    for h in (H0, H1):
        for r in ("last", "mean", "max"):
            assert out[h][r].shape == (len(TEXTS), 16) and out[h][r].dtype == torch.float32
    for i, t in enumerate(TEXTS):  # row i belongs to text i although batches are length-sorted
        one = A.extract(tiny_model, [t], H1, max_len=64, progress=False)
        torch.testing.assert_close(one[H1]["last"][0], out[H1]["last"][i], rtol=1e-5, atol=1e-5)


def test_batch_size_and_padding_do_not_change_results(tiny_model):
    a = A.extract(tiny_model, TEXTS, H1, max_len=64, batch_size=1, progress=False)[H1]
    b = A.extract(tiny_model, TEXTS, H1, max_len=64, batch_size=4, progress=False)[H1]
    c = A.extract(tiny_model, TEXTS, H1, max_len=64, batch_size=4, max_padded_tokens=12, progress=False)[H1]
    for r in a:
        torch.testing.assert_close(a[r], b[r], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(a[r], c[r], rtol=1e-5, atol=1e-5)


def test_batches_respect_rows_and_padded_token_budget():
    lengths = [1024, 900, 40, 30, 30, 20, 5, 3000]
    got = A._batches(lengths, batch_size=3, max_padded_tokens=2048)
    assert sorted(i for b in got for i in b) == list(range(len(lengths)))  # every row exactly once
    assert got[0] == [7]  # longer than the budget on its own: a batch of one
    assert got[1] == [0, 1]  # 2 x 1024 fits, 3 would not
    for b in got:
        assert len(b) <= 3 and (len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 2048)
    assert A._batches(lengths, 3, None) == [[7, 0, 1], [2, 3, 4], [5, 6]]  # rows only
    assert A._default_budget("cpu") == A.CPU_MAX_PADDED_TOKENS and A._default_budget("cuda") is None


@pytest.mark.parametrize("bad", ["big", 0, -5, 2.5])
def test_bad_padded_token_budget_is_one_clear_error(tiny_model, bad):
    with pytest.raises(ValueError, match="max_padded_tokens.*positive int"):
        A.extract(tiny_model, TEXTS, H1, max_len=64, max_padded_tokens=bad, progress=False)


def test_pooling_excludes_bos_and_padding(tiny_model):
    text = TEXTS[0]
    ids = A.tokenize(tiny_model, [text], 64)[0]
    _, cache = tiny_model.run_with_cache(torch.tensor([ids]), names_filter=[H1])
    acts = cache[H1][0]
    out = A.extract(tiny_model, [text, TEXTS[3]], H1, max_len=64, batch_size=2, progress=False)[H1]
    torch.testing.assert_close(out["mean"][0], acts[1:].mean(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["max"][0], acts[1:].amax(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["last"][0], acts[-1], rtol=1e-5, atol=1e-5)


def test_left_truncation_keeps_bos_and_last_tokens(tiny_model):
    full = A.tokenize(tiny_model, [TEXTS[3]], 1000)[0]
    cut = A.tokenize(tiny_model, [TEXTS[3]], 6)[0]
    assert len(cut) == 6 and cut[0] == tiny_model.tokenizer.bos_token_id and cut[1:] == full[-5:]


def test_custom_reducer_callable(tiny_model):
    def norm(acts, mask, last):
        return acts.norm(dim=-1).masked_fill(~mask, 0).sum(1, keepdim=True)

    out = A.extract(tiny_model, TEXTS, H0, reducers={"normsum": norm}, max_len=64, progress=False)
    assert out[H0]["normsum"].shape == (len(TEXTS), 1)


def test_streaming_token_acts_cover_every_non_bos_token(tiny_model):
    lens = [len(r) - 1 for r in A.tokenize(tiny_model, TEXTS, 64)]
    seen = {}
    for i, acts, ids in A.iter_token_acts(tiny_model, TEXTS, H1, max_len=64, batch_size=2, progress=False):
        assert acts.shape == (lens[i], 16) and ids.shape == (lens[i],)
        assert tiny_model.tokenizer.bos_token_id not in ids.tolist()
        seen[i] = acts
    assert sorted(seen) == list(range(len(TEXTS)))


@pytest.mark.parametrize("texts,msg", [([], "no texts"), (["ok", ""], "text 1 is empty"),
                                       (["ok", "   "], "text 1 is empty"), (["ok", 3], "text 1 is int"),
                                       ("just one string", "not one string")])
def test_bad_texts_are_one_clear_error(tiny_model, texts, msg):
    with pytest.raises(ValueError, match=msg):
        A.extract(tiny_model, texts, H0, progress=False)


def test_bad_hooks_are_one_clear_error(tiny_model):
    with pytest.raises(ValueError, match="layer 5 is out of range.*0..1"):
        A.extract(tiny_model, TEXTS, "blocks.5.hook_resid_post", progress=False)
    with pytest.raises(ValueError, match="unknown hook"):
        A.extract(tiny_model, TEXTS, "blocks.0.hook_nonsense", progress=False)
    with pytest.raises(ValueError, match="unknown reducer"):
        A.extract(tiny_model, TEXTS, H0, reducers=["median"], progress=False)


# ----------------------------------------------------------------------------- cache files
def test_cache_roundtrip_and_expectations(tmp_path):
    t = torch.randn(5, 3)
    p = atomic_save(tmp_path / "e.safetensors", {"acts": t}, {"key": "k1", "n_rows": 5})
    got, meta = load_checked(p, {"key": "k1", "shapes": {"acts": (5, 3)}})
    assert torch.equal(got["acts"], t) and meta["n_rows"] == 5
    assert load_checked(p, {"key": "other"}) is None and not p.exists()  # stale entry removed


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "drop_marker", "garbage"])
def test_corrupt_cache_entries_are_detected_and_removed(tmp_path, damage):
    p = atomic_save(tmp_path / "e.safetensors", {"acts": torch.randn(50, 8)}, {"key": "k"})
    raw = p.read_bytes()
    if damage == "truncate":
        p.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip_byte":
        p.write_bytes(raw[:-5] + bytes([raw[-5] ^ 0xFF]) + raw[-4:])
    elif damage == "drop_marker":
        p.with_suffix(".json").unlink()
    else:
        p.write_bytes(b"not a safetensors file")
    assert load_checked(p) is None
    assert not p.exists()


def test_cache_key_is_canonical():
    assert key_for({"a": 1, "b": [1, 2]}) == key_for({"b": [1, 2], "a": 1})
    assert key_for({"a": 1}) != key_for({"a": 2})


# ----------------------------------------------------------------------------- the real model
@pytest.mark.real
def test_real_last_token_equals_run_with_cache(real_model):
    hook = "blocks.12.hook_resid_post"
    texts = TEXTS + ["Short.", "Bonjour, je m'appelle Marie et j'habite à Paris depuis longtemps."]
    out = A.extract(real_model, texts, hook, max_len=128, batch_size=3, progress=False)[hook]["last"]
    for i, t in enumerate(texts):
        _, cache = real_model.run_with_cache(t, names_filter=[hook])
        torch.testing.assert_close(out[i], cache[hook][0, -1], rtol=1e-5, atol=2e-2)
    # truncation: the vector equals run_with_cache on the truncated token sequence
    ids = A.tokenize(real_model, [texts[-1]], 8)[0]
    _, cache = real_model.run_with_cache(torch.tensor([ids]), names_filter=[hook])
    cut = A.extract(real_model, [texts[-1]], hook, max_len=8, progress=False)[hook]["last"][0]
    torch.testing.assert_close(cut, cache[hook][0, -1], rtol=1e-5, atol=2e-2)


@pytest.mark.real
def test_real_layer_out_of_range(real_model):
    with pytest.raises(ValueError, match="layer 30 is out of range.*18 layers"):
        A.extract(real_model, ["hi"], "blocks.30.hook_resid_post", progress=False)


@pytest.mark.real
def test_dataset_activations_cache_hit_and_corruption(real_model, tmp_profile, monkeypatch):
    prof = tmp_profile.replace(datasets=("87_glue_cola",), max_rows=16, max_len=16)
    first = A.dataset_activations(prof, "glue_cola", model=real_model, progress=False)
    assert first.shape == (16, 640)
    files = sorted(prof.home_dir.rglob("*.safetensors"))
    assert len(files) == len(prof.hooks) * 3  # every hook x reducer from one pass
    meta = json.loads(files[0].with_suffix(".json").read_text())
    assert meta["dataset"] == "87_glue_cola" and meta["max_len"] == 16

    calls = []
    real_extract = A.extract
    monkeypatch.setattr(A, "extract", lambda *a, **k: calls.append(1) or real_extract(*a, **k))
    again = A.dataset_activations(prof, "87_glue_cola", progress=False)  # no model passed: pure cache hit
    assert torch.equal(again, first) and calls == []

    target = next(f for f in files if f.name.startswith("blocks.12.hook_resid_post.last."))
    target.write_bytes(target.read_bytes()[:100])  # a killed/corrupt write
    redo = A.dataset_activations(prof, "87_glue_cola", model=real_model, progress=False)
    assert calls == [1] and torch.allclose(redo, first, rtol=1e-5, atol=1e-2)


@pytest.mark.real
def test_profile_activations_resumes(real_model, tmp_profile, monkeypatch):
    from saeprobe.core import models

    prof = tmp_profile.replace(datasets=("87_glue_cola", "5_hist_fig_ismale"), ood_datasets=(),
                               max_rows=8, max_len=16)
    monkeypatch.setattr(models, "load_profile_model", lambda p: real_model)
    A.profile_activations(prof, include_ood=False, progress=False)
    for f in (prof.home_dir / "activations").rglob("5_hist_fig_ismale/*"):
        f.unlink()  # as if the run had been killed during the second dataset
    calls = []
    real_extract = A.extract
    monkeypatch.setattr(A, "extract", lambda m, texts, *a, **k: calls.append(len(texts)) or real_extract(m, texts, *a, **k))
    summary = A.profile_activations(prof, include_ood=False, progress=False)
    assert calls == [8] and list(summary.n_rows) == [8, 8]


def test_empty_saeprobe_home_is_not_the_working_folder(monkeypatch, tmp_path):
    from pathlib import Path

    from saeprobe.core.config import default_home

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SAEPROBE_HOME", "")  # e.g. `export SAEPROBE_HOME=$UNSET_VAR`
    assert default_home() == tmp_path / ".cache" / "saeprobe" != Path("")
    monkeypatch.setenv("SAEPROBE_HOME", str(tmp_path / "h"))
    assert default_home() == tmp_path / "h"
