"""saeprobe.p3.selection: validation vs test selection, optimism, summaries and the pages' CI helpers."""
import numpy as np
import pandas as pd
import pytest

from saeprobe.core.stats import bootstrap_ci
from saeprobe.p3 import selection


def test_selection_val_vs_test_and_optimism():
    rows = []
    for ds in ("a", "b"):
        for cfg, val, test in (("x", 0.9, 0.70), ("y", 0.8, 0.95)):
            rows.append({"dataset": ds, "config": cfg, "C": 1.0, "val_f1": val, "test_f1": test})
    df = pd.DataFrame(rows)
    assert set(selection.best_config(df, "val")["config"]) == {"x"}
    assert set(selection.best_config(df, "test")["config"]) == {"y"}
    opt = selection.optimism(df, n_boot=200)
    assert opt["optimism"].mean == pytest.approx(0.25)
    sel = selection.select(df, "val")
    assert len(sel) == 4


def test_select_ties_go_to_the_smaller_c():
    df = pd.DataFrame([{"dataset": "a", "config": "x", "C": c, "val_f1": 0.8, "test_f1": t}
                       for c, t in ((10.0, 0.5), (0.1, 0.9), (1.0, 0.7))])
    assert selection.select(df, "val")["C"].tolist() == [0.1]
    assert selection.select(df, "test")["C"].tolist() == [0.1]


@pytest.mark.filterwarnings("ignore:Degrees of freedom")  # np.nanstd of an all-NaN group
def test_summarize_is_bootstrap_ci_over_datasets():
    sel = pd.DataFrame({"config": ["x"] * 4 + ["y"] * 2, "test_f1": [0.5, 0.6, 0.7, 0.9, np.nan, np.nan]})
    summ = selection.summarize(sel, n_boot=300, seed=42).set_index("config")
    ci = bootstrap_ci([0.5, 0.6, 0.7, 0.9], n_boot=300, seed=42)
    assert (summ.loc["x", "mean"], summ.loc["x", "lo"], summ.loc["x", "hi"]) == (ci.mean, ci.lo, ci.hi)
    assert summ.loc["x", "n"] == 4 and summ.loc["y", "n"] == 0 and np.isnan(summ.loc["y", "mean"])


def test_summary_row_mean_ci_paired_ci():
    summ = pd.DataFrame([{"config": "x", "layer": 4, "mean": 0.5, "lo": 0.4, "hi": 0.6},
                         {"config": "y", "layer": 8, "mean": 0.7, "lo": 0.6, "hi": 0.8}])
    assert selection.summary_row(summ, config="y")["mean"] == 0.7
    assert selection.summary_row(summ, config="x", layer=4)["hi"] == 0.6
    missing = selection.summary_row(summ, config="x", layer=8)
    assert np.isnan(missing["mean"]) and np.isnan(missing["lo"]) and missing["n"] == 0
    m, lo, hi = selection.mean_ci([], n_boot=100)
    assert np.isnan(m) and np.isnan(lo) and np.isnan(hi)
    assert tuple(selection.mean_ci([0.2, 0.4, 0.9], n_boot=100)) == tuple(bootstrap_ci([0.2, 0.4, 0.9], n_boot=100))
    a = pd.Series({"d1": 0.9, "d2": 0.8, "d3": 0.7})
    b = pd.Series({"d1": 0.5, "d2": 0.6, "d4": 0.1})
    ci = selection.paired_ci(a, b, n_boot=100)
    assert ci.n == 2 and ci.mean == pytest.approx(0.3)  # d3, d4 unpaired
    assert selection.paired_ci(a[["d3"]], b[["d4"]], n_boot=100) is None


def test_select_flags_a_c_at_the_grid_edge():
    import pandas as pd

    rows = [{"dataset": "d", "config": cfg, "C": c, "val_f1": v, "test_f1": v}
            for cfg, vals in (("edge", (0.9, 0.5, 0.4)), ("inside", (0.5, 0.9, 0.4)), ("two", (0.9, 0.5, None)))
            for c, v in zip((0.01, 0.1, 1.0), vals) if v is not None]
    sel = selection.select(pd.DataFrame(rows), "val").set_index("config")
    assert bool(sel.loc["edge", "c_at_edge"]) and not bool(sel.loc["inside", "c_at_edge"])
    assert not bool(sel.loc["two", "c_at_edge"])  # a two-value grid has no interior to miss
