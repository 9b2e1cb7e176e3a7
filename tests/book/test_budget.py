"""The checked plan of a profile (saeprobe.book.budget; ``python -m saeprobe.book plan``): every
shipped profile passes TransformerLens's and sae-lens's catalogues; a typo fails with the close match."""
import math

import pytest
import yaml

from saeprobe.book import budget
from saeprobe.book.cli import main
from saeprobe.core.config import PROFILE_DIR


def _costs_ok(plan):
    if any("costs not estimated" in n for n in plan.notes):  # a machine where the cpu book never ran
        assert plan.p1["cpu_seconds"].isna().all()
    else:
        # a regime with no cells (e.g. smoke's imbalance grid) costs nothing; every other one something
        cost, cells = plan.p1["cpu_seconds"], plan.p1["cells"]
        assert all(math.isfinite(v) for v in cost) and ((cost > 0) | (cells == 0)).all() and (cost[cells == 0] == 0).all()


def test_plan_paper_lists_and_validates_everything():
    plan = budget.profile_plan("paper")
    assert set(plan.models["model"]) == {"google/gemma-2-9b", "google/gemma-2-2b", "google/gemma-2-9b-it",
                                         "google/gemma-3-270m"}
    assert plan.models.set_index("model").loc["google/gemma-2-9b", "d_model"] == 3584
    assert plan.hooks == [f"blocks.{layer}.hook_resid_post" for layer in (9, 20, 31, 41)]
    ids = set(plan.saes["release"] + "/" + plan.saes["id"])
    assert "gemma-scope-9b-pt-res/layer_20/width_1m/average_l0_193" in ids
    assert "gemma-scope-2-270m-pt-res/layer_15_width_262k_l0_medium_seed_1" in ids
    assert "gemma-scope-9b-it-res-canonical/layer_31/width_16k/canonical" in ids
    assert len(plan.saes) == 8 + 8 + 9 and (plan.saes["release"] != "(ours, trained here)").all()
    assert plan.saes.set_index("id").loc["layer_20/width_1m/average_l0_193", "width"] == 2 ** 20
    assert plan.datasets["binary"] == 113 and plan.datasets["ood"] == 8
    p1 = plan.p1.set_index("regime")
    # standard: 113 datasets x (6 baselines + 3 SAEs x 10 k)
    assert p1.loc["standard", "datasets"] == 113 and p1.loc["standard", "specs"] == 6 + 3 * 10
    assert p1.loc["standard", "cells"] == 113 * 36 and p1["cells"].sum() > 50_000
    _costs_ok(plan)
    disk = plan.disk.set_index("cache")["bytes"]
    assert disk["SAE weights"] > 30e9 and disk["activations"] > 1e9  # the 1m SAE alone is ~30 GB
    text = budget.format_plan(plan)
    assert "layer_20/width_131k/average_l0_114" in text and "P1 grid" in text and "[ok]" in text


@pytest.mark.parametrize("name, n_datasets", [("smoke", 3), ("cpu", 27)])
def test_plan_smoke_and_cpu(name, n_datasets):
    plan = budget.profile_plan(name)
    assert plan.datasets["binary"] == n_datasets
    assert list(plan.models["model"])[0] == "google/gemma-3-270m"
    from saeprobe import load_profile, saes

    # our own SAEs, listed like the hub's: one row per SAE of the profile
    assert (plan.saes["where"] == "sae.saes").sum() == len(saes.sae_specs(load_profile(name)))
    std = plan.p1.set_index("regime").loc["standard"]
    assert std["cells"] == n_datasets * std["specs"]
    _costs_ok(plan)


def _with(tmp_path, edit):
    raw = yaml.safe_load((PROFILE_DIR / "paper.yaml").read_text())
    edit(raw)
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_a_typo_fails_with_the_close_match(tmp_path, capsys):
    sae_typo = _with(tmp_path, lambda r: r["sae"]["hub"].update({20: "gemma-scope-9b-pt-res/layer_20/width_16k/average_l0_480"}))
    with pytest.raises(budget.PlanError, match=r"has no SAE 'layer_20/width_16k/average_l0_480' \(did you mean "
                                               r"'layer_20/width_16k/average_l0_408'\?\)"):
        budget.profile_plan(sae_typo)
    rel_typo = _with(tmp_path, lambda r: r["p3"]["hub_saes"].update(
        {"google/gemma-2-2b": ["gemma-scope-2b-pt-res-canonicl/layer_5/width_16k/canonical"]}))
    with pytest.raises(budget.PlanError, match="did you mean 'gemma-scope-2b-pt-res-canonical'"):
        budget.profile_plan(rel_typo)
    model_typo = _with(tmp_path, lambda r: r["p3"]["cross_model"].update({"model_b": "google/gemma-2-9b-lt"}))
    assert main(["plan", "--profile", model_typo]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("saeprobe.book plan: p3.cross_model.model_b: 'google/gemma-2-9b-lt' is not in TransformerLens's "
                   "model list (did you mean 'google/gemma-2-9b-it'?)")
    wrong_model = _with(tmp_path, lambda r: r["sae"]["hub"].update({20: "gemma-scope-2b-pt-res-canonical/layer_20/width_16k/canonical"}))
    with pytest.raises(budget.PlanError, match="trained on gemma-2-2b, not google/gemma-2-9b"):
        budget.profile_plan(wrong_model)
