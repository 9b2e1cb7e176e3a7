"""saeprobe.show: readable tables, labels, colours, the verdict box's markdown."""
import math

import numpy as np
import pandas as pd
import pytest

from saeprobe import show
from saeprobe.show import labels


def test_method_and_sae_labels():
    assert show.method_label("sae:topk-w4096-k128-s0-L12:k=16", main_layer=12) == "SAE 4k TopK-128, k = 16"
    assert show.method_label("sae:standard-w1024-l1_5-s1-L4:k=8", main_layer=12) == "SAE 1k ReLU-L1 (L1 5), L4, seed 1, k = 8"
    assert show.method_label("lr_z") == "LR, z-scored"
    assert show.method_label("something_new") == "something_new"  # never hides an unknown method
    assert show.column_label("mean_test_auc") == "mean test AUC" and show.column_label("ce_recovered_x") == "CE recovered x"


def test_setup_sets_the_main_layer(monkeypatch):
    monkeypatch.setattr(labels, "MAIN_LAYER", None)
    assert show.method_label("topk-w1024-k32-s0-L12") == "SAE 1k TopK-32, L12"
    monkeypatch.setattr(labels, "MAIN_LAYER", 12)
    assert show.method_label("topk-w1024-k32-s0-L12") == "SAE 1k TopK-32"
    assert show.method_label("topk-w1024-k32-s0-L4") == "SAE 1k TopK-32, L4"


def test_one_colour_per_method_on_every_page():
    assert show.color("lr") == show.color("LR (P1's)")
    assert show.color("sae:topk-w4096-k128-s0-L12:k=16") == show.color("sae:topk-w4096-k128-s0-L12:k=128")
    assert show.color("sae:topk-w4096-k128-s0-L12:k=16") != show.color("sae:topk-w16384-k128-s0-L12:k=16")
    assert show.color("lr") != show.color("lr_z")
    assert show.color("a brand-new method") == show.color("a brand-new method")
    # P1's quivers and the narrow smoke/lab widths have fixed colours, distinct from every method's
    quivers = ["quiver (P1's baselines)", "quiver (strong baselines)", "quiver + SAE", "quiver (P1's baselines) + SAE"]
    methods = ["lr", "lr_z", "pca", "knn", "xgb", "mlp", "attention", "sae:topk-w4096-k128-s0-L12:k=16"]
    assert len({show.color(q) for q in quivers}) == 4
    assert not {show.color(q) for q in quivers} & {show.color(m) for m in methods}
    narrow = [show.color(f"sae:topk-w{w}-k16-s0-L12:k=16") for w in (128, 256, 1024, 4096, 16384)]
    assert len(set(narrow)) == 5
    assert all(c.startswith("#") and len(c) == 7 for c in show.PALETTE)


def test_table_reads_well():
    df = pd.DataFrame({"method": ["lr", "sae:topk-w4096-k128-s0-L12:k=16"], "mean_test_auc": [0.85512, 0.8],
                       "ci_lo": [0.79401, 0.7], "ci_hi": [0.91249, 0.9], "param": [np.nan, np.nan],
                       "p_wilcoxon": [0.000123, 0.5], "n": [27, 27], "at_edge": [True, False]})
    t = show.table(df, main_layer=12)
    assert list(t.text.columns) == ["method", "mean test AUC [95 % CI]", "Wilcoxon p", "n", "at edge"]
    assert t.text.iloc[0].tolist() == ["LR (P1's)", "0.855 [0.794, 0.912]", "0.000123", "27", "yes"]
    assert t.text.iloc[1, 0] == "SAE 4k TopK-128, k = 16"
    html = t._repr_html_()
    assert 'class="sp-table"' in html and "<th>mean test AUC [95 % CI]</th>" in html
    assert "param" not in html and ">0<" not in html  # no all-empty column, no index
    assert t.data is df  # the numbers stay available untouched


def test_table_long_scrolls_and_named_index_is_kept():
    df = pd.DataFrame({"x": np.arange(40) / 7}, index=pd.Index([f"d{i}" for i in range(40)], name="dataset"))
    t = show.table(df, max_rows=10)
    assert "sp-table-long" in t._repr_html_() and list(t.text.columns) == ["dataset", "x"]
    assert t.text["x"].iloc[1] == "0.143"
    with pytest.raises(TypeError, match="DataFrame"):
        show.table([1, 2])


def test_table_rename_reaches_ci_columns_and_formats_override():
    df = pd.DataFrame({"token_id": [12345, 7], "delta": [0.01, -0.02], "ci_lo": [0.0, -0.03], "ci_hi": [0.02, -0.01]})
    t = show.table(df, rename={"delta": "SAE − LR"})
    assert list(t.text.columns) == ["token id", "SAE − LR [95 % CI]"]
    assert t.text["token id"].tolist() == ["12345", "7"]  # an id has no thousands separator
    counts = pd.DataFrame({"tokens": [12345], "latent": [16000.0]})
    assert show.table(counts).text.iloc[0].tolist() == ["12,345", "16000"]  # a count has one
    assert show.table(counts, formats={"tokens": lambda v: f"{v / 1000:.1f}k"}).text["tokens"].iloc[0] == "12.3k"
    assert list(show.table(df, rename={"delta [95 % CI]": "d"}).text.columns) == ["token id", "d"]


def test_ci_formatting_and_missing():
    assert show.fmt_ci(0.855, 0.794, 0.912) == "0.855 [0.794, 0.912]"
    assert show.fmt_ci(0.855, float("nan"), 0.9) == "0.855"
    assert show.fmt_ci(float("nan"), None, None) == "—"


def test_verdict_markdown_from_claim_rows():
    rows = [{"id": "p1-x", "paper": "P1", "claim": "SAE probes do not beat LR.", "paper_value": -0.003,
             "ours": 0.002, "ci_lo": -0.004, "ci_hi": 0.008, "verdict": "reproduces"},
            {"id": "p1-y", "paper": "P1", "claim": "Another.", "paper_value": 0.9, "ours": math.nan,
             "ci_lo": math.nan, "ci_hi": math.nan, "verdict": "not run here — needs the hub"}]
    md = show.verdict_markdown(rows, findings=["one computed sentence"])
    lines = md.splitlines()
    assert lines[0].startswith("- **Reproduces** — SAE probes do not beat LR.")
    assert "*P1's number:* -0.003" in lines[0] and "+0.002 [-0.004, +0.008]" in lines[0]
    assert "**Not run here**" in lines[1] and "needs the hub" in lines[1]
    assert lines[2] == "- one computed sentence"
    with pytest.raises(ValueError, match="at least one computed line"):
        show.verdict_markdown([])


def test_style_file_loads():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    show.style()
    assert plt.rcParams["figure.facecolor"] == "white" and plt.rcParams["axes.spines.top"] is False
    plt.rcdefaults()
