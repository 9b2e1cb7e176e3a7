"""Profiles: typed sections, validation at load time (one clear line), overrides that merge."""
import dataclasses

import pytest
import yaml

from saeprobe.core.config import Profile, list_profiles, load_profile, profile_path
from saeprobe.core.settings import P1Settings, P2Settings, P3Settings, SAESettings


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_shipped_profiles_load_typed(name):
    p = load_profile(name)
    assert isinstance(p, Profile) and isinstance(p.sae, SAESettings) and isinstance(p.p1, P1Settings)
    assert isinstance(p.p2, P2Settings) and isinstance(p.p3, P3Settings)
    assert p.main_layer in p.layers and p.dataset_names() == list(p.datasets)
    assert all("_" in n and n.split("_")[0].isdigit() for n in p.datasets)  # canonical names
    assert load_profile(p) is p and name in list_profiles()


def test_all_datasets_resolve_at_load():
    assert len(load_profile("paper").datasets) == 113


def _yaml(tmp_path, **changes):
    raw = yaml.safe_load(profile_path("smoke").read_text())
    for k, v in changes.items():
        raw[k] = v
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# typos at three depths: a section key, a nested section key, a key inside a list entry
@pytest.mark.parametrize("override,msg", [
    (dict(p2={"threshhold": 0.5}), "p2.threshhold: unknown key (did you mean 'threshold'?)"),
    (dict(sae={"corpus": {"tokenz": 1000}}), "sae.corpus.tokenz: unknown key (did you mean 'tokens'?)"),
    (dict(p1={"ood_sae": {"rankng": "raw"}}), "p1.ood_sae.rankng: unknown key (did you mean 'ranking'?)"),
    (dict(sae={"saes": [{"arch": "topk", "width": 64, "k": 8, "seeds": [0], "lr_rate": 1.0}]}),
     "sae.saes[0].lr_rate: unknown key"),
    (dict(mian_layer=12), "mian_layer: unknown key (did you mean 'main_layer'?)"),
])
def test_typos_are_one_line_naming_section_key_and_close_match(override, msg):
    with pytest.raises(ValueError) as err:
        load_profile("smoke", **override)
    assert msg in str(err.value) and "\n" not in str(err.value)


def test_typo_in_a_yaml_file_three_levels_down(tmp_path):
    path = _yaml(tmp_path, sae={"corpus": {"tokenz": 1000}})
    with pytest.raises(ValueError, match=r"sae\.corpus\.tokenz: unknown key \(did you mean 'tokens'\?\)"):
        load_profile(path)


@pytest.mark.parametrize("override,msg", [
    (dict(p1={"n_jobs": "two"}), "p1.n_jobs: expected an integer"),
    (dict(p1={"methods": ["lr", "svm"]}), "p1.methods[1]: 'svm' is not one of"),
    (dict(p1={"sae_ranking": "normalised"}), "did you mean 'normalized'"),
    (dict(p3={"poolings": ["count", "median"]}), "p3.poolings[1]: 'median' is not one of"),
    (dict(p2={"probe_k": 16}), "p2.probe_k: expected a list"),
    (dict(sae={"saes": [{"arch": "topkk", "width": 64, "k": 8}]}), "sae.saes[0]: arch 'topkk' is not an SAE"),
    (dict(datasets=["87_glue_cola", "glue_colaa"]), "datasets: unknown dataset 'glue_colaa'"),
    (dict(ood_datasets=["92_glue_sst2"]), "ood_datasets: 92_glue_sst2 has no OOD test file"),
    (dict(layers=[4, 8, 40], main_layer=8), "layers [40] are outside google/gemma-3-270m's blocks 0..17"),
    (dict(main_layer=5), "main_layer 5 is not in layers [4, 8, 12]"),
    (dict(p3={"layers": [5]}), "p3.layers: 5 is not a profile layer"),
    (dict(p2={"probe_datasets": ["nope_nope"]}), "p2.probe_datasets: unknown dataset"),
])
def test_bad_values_fail_at_load(override, msg):
    with pytest.raises(ValueError) as err:
        load_profile("smoke", **override)
    assert msg in str(err.value), str(err.value)


def test_override_merges_into_a_section():
    base = load_profile("cpu")
    p = load_profile("cpu", p2={"threshold": 0.5}, sae={"corpus": {"tokens": 123}})
    assert p.p2.threshold == 0.5 and p.p2.n_boot == base.p2.n_boot and p.p2.probe_k == base.p2.probe_k
    assert p.sae.corpus.tokens == 123 and p.sae.corpus.heldout_tokens == base.sae.corpus.heldout_tokens
    assert p.sae.saes == base.sae.saes
    q = p.replace(p1={"n_jobs": 1})
    assert q.p1.n_jobs == 1 and q.p1.methods == base.p1.methods and q.p2.threshold == 0.5
    assert p.replace(max_rows=10).max_rows == 10


def test_defaults_live_in_the_settings_classes():
    # a profile that leaves a section out gets the dataclass defaults, not a value from elsewhere
    p = load_profile("smoke", p2=P2Settings())
    assert p.p2 == P2Settings() and p.p2.threshold == 0.7
    assert dataclasses.asdict(load_profile("cpu").p1)["ood_sae"] == {"k": 128, "penalty": "l1", "ranking": "raw"}


def test_unknown_profile_names_close_match():
    with pytest.raises(ValueError, match="close: \\['cpu'\\]"):
        load_profile("cpuu")


def test_to_dict_round_trips(tmp_path):
    p = load_profile("cpu")
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump(p.to_dict()))
    assert load_profile(path) == p
