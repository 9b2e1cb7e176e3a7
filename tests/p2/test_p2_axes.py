"""saeprobe.p2.axes: which SAEs page 30's other axes train (layers, two corpora of disjoint source
families, P2's models) and the minority verdict. No model, no training."""
import pandas as pd
import pytest

from saeprobe import load_profile, saes
from saeprobe.p2 import axes


def test_layer_groups_reuse_listed_saes_and_cover_every_layer():
    prof = load_profile("cpu")
    groups = axes.layer_groups(prof)
    assert sorted(groups) == sorted(prof.layers)
    listed = set(saes.sae_specs(prof))
    for layer, g in groups.items():
        assert [s.seed for s in g] == list(prof.p2.axes.seeds) and {s.layer for s in g} == {layer}
        assert len({s.name for s in g}) == len(g)
        assert g[0] in listed  # seed 0 of each layer is an SAE the profile already trains (cached)
    assert groups[prof.main_layer][1] in listed  # ... and the main layer's second seed too
    # the same recipe and budget as the sae.saes entry the axes name (p2.axes.entry)
    e = prof.sae.saes[prof.p2.axes.entry]
    main = next(x for x in saes.sae_specs(prof) if (x.arch, x.width, x.k) == (e.arch, e.width, e.k))
    assert {(s.tokens, s.lr, s.batch_size) for g in groups.values() for s in g} == {(main.tokens, main.lr, main.batch_size)}


def test_corpus_groups_are_disjoint_families_at_the_main_layer():
    prof = load_profile("smoke")
    groups, fams = axes.corpus_groups(prof)
    assert set(groups) == {"A", "B"} and not set(fams["A"]) & set(fams["B"])
    for k, g in groups.items():
        assert all(s.train_families == fams[k] and s.layer == prof.main_layer for s in g)
    assert {s.name for s in groups["A"]}.isdisjoint({s.name for s in groups["B"]})
    off = load_profile("smoke", p2={"axes": {"corpora": False}})
    assert axes.corpus_groups(off) == ({}, {})
    assert axes.layer_groups(load_profile("smoke", p2={"axes": {"sae": None}})) == {}


def test_paper_profile_names_p2_models_that_transformerlens_knows():
    from transformer_lens.supported_models import OFFICIAL_MODEL_NAMES

    prof = load_profile("paper")
    models = prof.p2.models
    assert models and models[0].model == "EleutherAI/pythia-160m" and models[0].hook == "blocks.6.hook_mlp_out"
    assert all(m.model in OFFICIAL_MODEL_NAMES for m in models)
    assert axes.layer_groups(prof) == {} and axes.corpus_groups(prof) == ({}, {})  # no SAE corpus there


def _rows(vals):
    return pd.DataFrame([{"point": p, "shared": v, "shared_lo": lo, "shared_hi": hi} for p, v, lo, hi in vals])


def test_minority_verdict():
    s, m = axes.minority_verdict(_rows([("L4", 0.2, 0.1, 0.3), ("L8", 0.3, 0.2, 0.4)]), what="layer")
    assert m is True and "minority at every layer" in s
    s, m = axes.minority_verdict(_rows([("L4", 0.2, 0.1, 0.3), ("L8", 0.7, 0.6, 0.8)]), what="layer")
    assert m is False and "L8" in s
    s, m = axes.minority_verdict(_rows([("A", 0.45, 0.35, 0.55), ("B", 0.2, float("nan"), float("nan"))]), what="corpus")
    assert m is None and "undetermined" in s
    s, m = axes.minority_verdict(_rows([]).reindex(columns=["point", "shared", "shared_lo", "shared_hi"]), what="layer")
    assert m is None and "Not measured" in s


@pytest.mark.parametrize("name", ["smoke", "cpu"])
def test_model_texts_come_from_the_sae_corpus(name):
    prof = load_profile(name)
    texts, source = axes.model_texts(prof)
    assert texts and "SAE corpus" in source
