# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Do the papers hold up here?
#
# One row per headline claim of the three papers that a page of this book tests: the claim in one
# sentence, **the paper's number** (labelled as the paper's), **ours** with its 95 % CI, the verdict
# and the page that shows it. No row is typed here: each page records its claims with
# `saeprobe.core.claims.record_claim`, and the verdict is computed from our CI by the claim's rule
# (stated in the table's `rule` column):
#
# * **direction** — the paper says a difference is below (or above) 0: *reproduces* if our whole CI is
#   on that side, *partly* if our estimate is but the CI reaches 0, *does not* otherwise;
# * **no gain** — the paper says A does not beat B: *does not* if our CI of A − B lies above 0,
#   *reproduces* if its top is at most the stated margin, *partly* otherwise;
# * **close to** — ours should equal the paper's number: *reproduces* if the paper's number is within
#   our CI widened by the tolerance, *partly* if within twice the tolerance of ours;
# * **not run here** — the page cannot test the claim on this machine, and says why.
#
# This page is executed after every other page (the runner reruns it whenever a page's claims
# change, `book/_generated/claims.csv`). Models, data and SAE sizes differ from the papers' (see each
# page), so a verdict says whether the claim holds *in this setting*.

# %% tags=["parameters"]
profile = "cpu"

# %% tags=["hide-input"]
import html

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Markdown, display
from myst_nb import glue

from saeprobe import load_profile, show
from saeprobe.core import claims

prof = load_profile(profile)
show.setup(prof)
table = claims.assemble(profile=prof.name)
print(f"{len(table)} claims recorded under profile {prof.name} -> {table.attrs['path']}")
if table.attrs["other_profiles"]:
    print("left out (recorded under another profile; rerun those pages):", ", ".join(table.attrs["other_profiles"]))
kind = table["verdict"].where(~table["verdict"].str.startswith(claims.NOT_RUN), "not run here")
table = table.assign(kind=kind)
counts = {v: int((kind == v).sum()) for v in claims.VERDICTS}
glue("claims_n", int(len(table)), display=False)
for v, n in counts.items():
    glue(f"claims_n_{v.replace(' ', '_')}", n, display=False)
glue("claims_profile", prof.name, display=False)

# %% [markdown]
# Of the {glue:text}`claims_n` claims recorded on profile **{glue:text}`claims_profile`**,
# {glue:text}`claims_n_reproduces` reproduce, {glue:text}`claims_n_partly` partly,
# {glue:text}`claims_n_does_not` do not, and {glue:text}`claims_n_not_run_here` are not run here.
#
# ## The table

# %% tags=["hide-input"]
def _num(x):
    return "—" if not np.isfinite(x) else f"{x:+.3f}" if abs(x) < 0.1 and x != 0 else f"{x:.3f}"


colour = {"reproduces": "#d4edda", "partly": "#fff3cd", "does not": "#f8d7da", "not run here": "#e2e3e5"}
rows = []
for r in table.itertuples():
    ci = f"<br><small>[{_num(r.ci_lo)}, {_num(r.ci_hi)}]</small>" if np.isfinite(r.ci_lo) else ""
    rows.append(
        f"<tr><td>{html.escape(r.claim)}<br><small><code>{html.escape(r.id)}</code> · rule: {html.escape(r.rule)}"
        f"</small></td><td>{r.paper}</td><td>{_num(r.paper_value)}</td><td>{_num(r.ours)}{ci}</td>"
        f"<td style='background:{colour[r.kind]}'><b>{html.escape(r.verdict)}</b></td>"
        f"<td><small><a href='{r.page}.html'>{r.page}</a></small></td></tr>")
display(HTML("<div class='sp-table sp-table-long'><table class='table sp' style='font-size:0.85em'><thead><tr><th style='width:46%'>claim</th>"
             "<th>paper</th><th>paper's value</th><th>ours [95 % CI]</th><th style='width:16%'>verdict</th>"
             "<th>page</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"))

# %% [markdown]
# ## Ours against the paper's number
#
# Every claim with a number: the paper's value (✕) and ours with its 95 % CI (dot and bar), coloured
# by verdict ({numref}`fig-99-claims`). The quantities differ from claim to claim (AUC differences,
# shared fractions, macro F1); each row is read on its own against its ✕. The book's front page shows
# the same figure.

# %% tags=["hide-input"]
fig = show.claims_figure(table, title=f"{len(table)} claims, profile {prof.name}")
front = claims.claims_dir().parent / "front_summary.png"
if fig is None:  # nothing to draw: the figure's place says so in words, and the front page too
    front.unlink(missing_ok=True)
    glue("claims_forest", Markdown("No page has recorded a numeric claim yet: run the experiment pages first."),
         display=False)
else:
    show.save_png(fig, front)
    show.figure(fig, "claims_forest")

# %% [markdown]
# :::{glue:figure} claims_forest
# :name: fig-99-claims
# :alt: One row per claim, grouped by paper: a black cross at the paper's value and a coloured dot with a bar at our value and its 95 % confidence interval; the colour is the computed verdict.
#
# Every claim of the three papers that this build tests: ✕ the paper's number, ● ours with its 95 %
# CI, coloured by the verdict the claim's rule computes (green reproduces, orange partly, red does not).
# :::

# %% [markdown]
# ## How a page adds a claim
#
# ```python
# from saeprobe.core import claims
# claims.record_claim(prof, "p1-std-quiver", paper="P1", claim="Adding SAE probes to the quiver does not help.",
#                     paper_value=0.937 - 0.940, ours=paired_test_dict, rule=claims.no_gain(0.01),
#                     page="10_standard")
# ```
#
# `ours` is a number (with `ci_lo`, `ci_hi`), a `stats.CI` or a `stats.paired_test` result; a claim the
# page cannot test gets `rule=claims.not_run("needs the hub")`. See `ARCHITECTURE.md`.
