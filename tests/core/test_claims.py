"""The claims API: fragments round-trip, verdict rules, assembly, and the runner's claims page hash."""
import json
import math

import pytest

from saeprobe.core import claims
from saeprobe.core.stats import CI


def _rec(folder, id="p1-x", page="10_standard", **kw):
    args = dict(paper="P1", claim="A claim.", paper_value=-0.003, ours=0.0, ci_lo=-0.01, ci_hi=0.005,
                rule=claims.no_gain(0.01), page=page, folder=folder)
    if not isinstance(kw.get("ours", 0.0), (int, float)):
        args.update(ci_lo=None, ci_hi=None)  # a CI / paired-test dict carries its own interval
    args.update(kw)
    return claims.record_claim("smoke", id, **args)


def test_round_trip(tmp_path):
    row = _rec(tmp_path, ours=CI(-0.002, -0.01, 0.004, 5))
    path = tmp_path / "10_standard" / "p1-x.json"
    assert path.exists() and not list(tmp_path.rglob("*.tmp"))
    back = claims.read_fragments(tmp_path)
    assert back == [row]
    assert row["verdict"] == "reproduces" and row["ours"] == -0.002 and row["profile"] == "smoke"
    nan = _rec(tmp_path, id="p1-nan", ours=float("nan"), ci_lo=None, ci_hi=None)
    assert json.loads((tmp_path / "10_standard" / "p1-nan.json").read_text())["ours"] is None
    assert nan["verdict"].startswith("not run here — ")
    assert math.isnan(claims.read_fragments(tmp_path)[0]["ours"])


def test_paired_dict_and_errors(tmp_path):
    row = _rec(tmp_path, ours={"mean_diff": 0.02, "ci_lo": 0.01, "ci_hi": 0.03})
    assert row["verdict"] == "does not"
    with pytest.raises(ValueError, match="paper must be"):
        _rec(tmp_path, paper="P4")
    with pytest.raises(ValueError, match="page"):
        _rec(tmp_path, page="standard")
    with pytest.raises(ValueError, match="id"):
        _rec(tmp_path, id="Bad Id")
    with pytest.raises(ValueError, match="ci_lo"):
        _rec(tmp_path, ci_lo=0.2, ci_hi=0.1)


@pytest.mark.parametrize("rule,ours,lo,hi,paper,want", [
    (claims.direction(-1), -0.03, -0.05, -0.01, -0.037, "reproduces"),
    (claims.direction(-1), -0.03, -0.05, 0.01, -0.037, "partly"),
    (claims.direction(-1), 0.01, -0.02, 0.03, -0.037, "does not"),
    (claims.direction(+1), 0.05, 0.01, 0.09, 0.046, "reproduces"),
    (claims.direction(+1), 0.05, float("nan"), float("nan"), 0.046, "partly"),
    (claims.no_gain(0.01), -0.01, -0.02, 0.005, -0.003, "reproduces"),
    (claims.no_gain(0.01), 0.0, -0.04, 0.04, -0.003, "partly"),
    (claims.no_gain(0.01), 0.03, 0.01, 0.05, -0.003, "does not"),
    (claims.close_to(0.05), 0.78, 0.70, 0.84, 0.802, "reproduces"),
    (claims.close_to(0.05), 0.72, 0.70, 0.74, 0.802, "partly"),
    (claims.close_to(0.05), 0.50, 0.45, 0.55, 0.802, "does not"),
    (claims.not_run("needs the hub"), 0.5, 0.4, 0.6, 0.8, "not run here — needs the hub"),
])
def test_verdict_rules(rule, ours, lo, hi, paper, want):
    assert rule.verdict(ours, lo, hi, paper) == want
    assert rule.describe()


def test_rule_arguments():
    with pytest.raises(ValueError):
        claims.direction(0)
    with pytest.raises(ValueError):
        claims.not_run(" ")
    with pytest.raises(ValueError):
        claims.Rule("maybe")


def test_assemble(tmp_path):
    folder = tmp_path / "claims"
    _rec(folder, id="p1-b", page="11_scarcity")
    _rec(folder, id="p1-a", page="10_standard")
    _rec(folder, id="p3-z", page="44_cross_model", paper="P3", rule=claims.not_run("needs the hub"))
    claims.record_claim("cpu", "p2-other", paper="P2", claim="Other profile.", paper_value=0.8, ours=0.7,
                        rule=claims.close_to(0.1), page="30_seed_stability", folder=folder)
    table = claims.assemble(folder, profile="smoke")
    assert list(table.columns) == list(claims.COLUMNS)
    assert list(table["id"]) == ["p1-a", "p1-b", "p3-z"]
    assert table.attrs["other_profiles"] == ["30_seed_stability/p2-other (cpu)"]
    csv = (tmp_path / "claims.csv").read_text().splitlines()
    assert csv[0] == ",".join(claims.COLUMNS) and len(csv) == 4
    assert table.loc[2, "verdict"] == "not run here — needs the hub" and math.isnan(table.loc[2, "ours"])
    _rec(folder, id="p1-a", page="11_scarcity")  # the same id from a second page
    with pytest.raises(ValueError, match="recorded by both"):
        claims.assemble(folder)


def test_bad_fragment_is_one_line(tmp_path):
    _rec(tmp_path)
    path = tmp_path / "10_standard" / "p1-x.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "verdict": "sort of"}))
    with pytest.raises(ValueError, match="verdict 'sort of'"):
        claims.read_fragments(tmp_path)


def test_claims_dir(tmp_path, monkeypatch):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text("")
    monkeypatch.delenv(claims.CLAIMS_ENV, raising=False)
    assert claims.claims_dir(tmp_path / "notebooks") == tmp_path / "book" / "_generated" / "claims"
    monkeypatch.setenv(claims.CLAIMS_ENV, str(tmp_path / "x"))
    assert claims.claims_dir() == tmp_path / "x"


def test_claims_page_plan_follows_fragments(tmp_path):
    """The claims page's key changes with any fragment and with nothing else of the pages."""
    from saeprobe import book

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "_toc.yml").write_text("")
    src = tmp_path / "notebooks" / "99_claims.py"
    src.write_text('# %% tags=["parameters"]\nprofile = "cpu"\n')
    key = lambda: book.plan_for(tmp_path, src, "smoke", {}, name=book.plan.CLAIMS_PAGE).key  # noqa: E731
    k0 = key()
    assert key() == k0
    folder = tmp_path / "book" / "_generated" / "claims"
    _rec(folder)
    k1 = key()
    assert k1 != k0 and key() == k1
    _rec(folder, ours=0.001)
    assert key() != k1
    other = tmp_path / "notebooks" / "10_x.py"
    other.write_text('# %% tags=["parameters"]\nprofile = "cpu"\n')
    assert "claims" not in book.plan_for(tmp_path, other, "smoke", {}).inputs
