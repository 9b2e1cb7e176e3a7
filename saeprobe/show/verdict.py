"""The box an experiment page opens with: the paper's claim (its number, labelled as the paper's),
what this build finds (with the CI) and the computed verdict -- from the page's claim rows
(:func:`saeprobe.core.claims.record_claim`), so the box cannot say anything the page did not compute.

The page's first cells hold the box's frame; the rows are glued under ``key`` (default
``verdict_box``) by :func:`verdict_box` in the page's last code cells::

    ::::{admonition} At a glance
    :class: sp-verdict
    :::{glue:md} verdict_box
    :format: myst
    :::
    ::::
"""
from __future__ import annotations

import math

from saeprobe.core.claims import NOT_RUN


def _f(x, signed: bool) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _row(r: dict) -> str:
    verdict = str(r["verdict"])
    signed = any(v is not None and isinstance(v, (int, float)) and math.isfinite(v) and v < 0
                 for v in (r.get("paper_value"), r.get("ours"), r.get("ci_lo")))
    if verdict.startswith(NOT_RUN):
        ours = f"not run here ({verdict[len(NOT_RUN):]})"
        head = "Not run here"
    else:
        lo, hi = _f(r.get("ci_lo"), signed), _f(r.get("ci_hi"), signed)
        ci = f" [{lo}, {hi}]" if "—" not in (lo, hi) else ""
        ours = f"{_f(r['ours'], signed)}{ci}"
        head = verdict.capitalize()
    return (f"- **{head}** — {r['claim']} *{r['paper']}'s number:* {_f(r['paper_value'], signed)}; "
            f"*this build:* {ours} (claim `{r['id']}`).")


def verdict_markdown(rows, *, findings=()) -> str:
    """Markdown for the box: one bullet per claim row, then ``findings`` (extra computed sentences)."""
    lines = [_row(r) for r in rows] + [f"- {s}" for s in findings]
    if not lines:
        raise ValueError("verdict_box: no claim rows and no findings: a page's box needs at least one computed line")
    return "\n".join(lines)


def verdict_box(rows, *, findings=(), key: str = "verdict_box") -> None:
    """Glue :func:`verdict_markdown` of ``rows`` (claim dicts) under ``key`` (shown where the page's
    ``{glue:md}`` names it; nothing is displayed here)."""
    from IPython.display import Markdown
    from myst_nb import glue

    md = verdict_markdown(rows, findings=findings)
    glue(key, Markdown(md), display=False)
