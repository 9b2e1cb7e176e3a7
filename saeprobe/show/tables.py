"""One helper for every displayed table: :func:`table`.

It never changes the numbers, only how they read: no index, no all-empty column, readable column and
method names (:mod:`saeprobe.show.labels`), one rounding rule, a CI as ``0.855 [0.794, 0.912]`` (from
``X`` with ``X_lo``/``X_hi``, or from ``ci_lo``/``ci_hi`` -- or ``lo``/``hi`` -- placed right after
``X``), yes/no for booleans, and HTML in a ``div.sp-table`` box that scrolls sideways rather than
running past the page's column; a table longer than ``max_rows`` scrolls with a sticky header
(``book/_static/saeprobe.css``). The DataFrame itself stays available as ``Table.data``.
"""
from __future__ import annotations

import html
import math
from numbers import Integral, Real

import pandas as pd

from saeprobe.show.labels import column_label, method_label

LABEL_COLUMNS = ("method", "label", "sae", "a", "b", "method_a", "method_b", "best", "chosen")
_P_COLUMNS = ("p", "p_value", "p_wilcoxon", "pvalue", "p_perm")
ID_COLUMNS = ("id", "latent", "latent_id", "token_id", "seed", "layer")  # and any ``*_id``: shown as written


def _is_missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == "" or v.strip().lower() == "nan"
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def fmt_number(v, digits: int = 3) -> str:
    """One rounding rule: integers as integers, ``|x| >= 1000`` with thousands separators and no decimals,
    otherwise ``digits`` decimals (a tiny non-zero value in 3 significant digits instead of 0.000)."""
    if _is_missing(v):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, Integral):
        return f"{int(v):,}" if abs(int(v)) >= 10_000 else str(int(v))
    if isinstance(v, Real):
        x = float(v)
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if x == int(x) and abs(x) < 1e15 and abs(x) >= 1:
            return f"{int(x):,}" if abs(x) >= 10_000 else str(int(x))
        if abs(x) >= 1000:
            return f"{x:,.0f}"
        if x != 0 and abs(x) < 10 ** -digits:
            return f"{x:.{max(digits - 1, 1)}e}" if abs(x) < 1e-6 else f"{x:.3g}"
        return f"{x:.{digits}f}"
    return str(v)


def fmt_ci(mean, lo, hi, digits: int = 3) -> str:
    """``0.855 [0.794, 0.912]``; the bracket is left out when the CI is missing."""
    m = fmt_number(mean, digits)
    if _is_missing(lo) or _is_missing(hi):
        return m
    return f"{m} [{fmt_number(lo, digits)}, {fmt_number(hi, digits)}]"


def _ci_pairs(cols: list[str]) -> dict[str, tuple[str, str]]:
    """{estimate column: (lo column, hi column)}."""
    pairs = {}
    used = set()
    for c in cols:
        for lo, hi in ((f"{c}_lo", f"{c}_hi"), (f"{c}_ci_lo", f"{c}_ci_hi")):
            if lo in cols and hi in cols:
                pairs[c] = (lo, hi)
                used |= {lo, hi}
                break
    for lo, hi in (("ci_lo", "ci_hi"), ("lo", "hi")):
        if lo in cols and hi in cols and lo not in used:
            i = cols.index(lo)
            j = i - 1
            while j >= 0 and cols[j] in used:
                j -= 1
            if j >= 0 and cols[j] not in pairs:
                pairs[cols[j]] = (lo, hi)
                used |= {lo, hi}
    return pairs


class Table:
    """A formatted table (strings, ready to show) and the DataFrame it came from (``data``)."""

    def __init__(self, data: pd.DataFrame, text: pd.DataFrame, *, caption: str | None, max_rows: int):
        self.data = data
        self.text = text
        self.caption = caption
        self.max_rows = max_rows

    def __len__(self) -> int:
        return len(self.text)

    def _repr_html_(self) -> str:
        long = len(self.text) > self.max_rows
        cls = "sp-table sp-table-long" if long else "sp-table"
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.text.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                       for row in self.text.itertuples(index=False))
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        more = (f'<p class="sp-table-note">{len(self.text)} rows; scroll inside the box.</p>' if long else "")
        return (f'<div class="{cls}" tabindex="0"><table class="dataframe sp">{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>{more}")

    def __repr__(self) -> str:
        txt = self.text.to_string(index=False)
        return f"{self.caption}\n{txt}" if self.caption else txt


def table(df: pd.DataFrame, *, digits: int = 3, max_rows: int = 15, caption: str | None = None,
          labels: bool = True, rename: dict | None = None, main_layer: int | None = None,
          keep_index: bool | None = None, formats: dict | None = None) -> Table:
    """``df`` as a table made for reading (see the module docstring).

    ``digits``: decimals of floats (p-values get 3 significant digits). ``max_rows``: longer tables
    scroll inside a box of about that height. ``labels``: map method/SAE names in
    :data:`LABEL_COLUMNS` through :func:`~saeprobe.show.labels.method_label`. ``rename``: explicit
    column names, applied last (over the automatic ones), keyed by the DataFrame's column or by the
    shown name (a CI column ``X`` renamed to ``Y`` reads ``Y [95 % CI]``). ``keep_index``: show the
    index as the first column (default: only when it is not a plain 0..n-1 range). ``formats``:
    ``{column: callable}`` for a column that the rounding rule would misread; ids (:data:`ID_COLUMNS`,
    ``*_id``: latents, token ids, seeds, layers) are shown as written, without thousands separators.
    """
    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"show.table: expected a pandas DataFrame, got {type(df).__name__}")
    data = df
    d = df.copy()
    plain = isinstance(d.index, pd.RangeIndex) or (d.index.dtype.kind in "iu" and list(d.index) == list(range(len(d))))
    if keep_index if keep_index is not None else not plain:
        d = d.reset_index()
    else:
        d = d.reset_index(drop=True)
    d.columns = [str(c) if not isinstance(c, tuple) else " ".join(str(x) for x in c if str(x)) for c in d.columns]
    d = d[[c for c in d.columns if not d[c].map(_is_missing).all()]] if len(d) else d
    cols = list(d.columns)
    pairs = _ci_pairs(cols)
    out, shown = {}, {}
    formats = formats or {}
    for c in cols:
        if any(c in lh for lh in pairs.values()):
            continue
        s = d[c]
        if c in formats or c.lower() in ID_COLUMNS or c.lower().endswith("_id"):
            f = formats.get(c, lambda v: int(v) if isinstance(v, Real) and float(v).is_integer() else v)
            vals = ["—" if _is_missing(v) else str(f(v)) for v in s]
            name = column_label(c)
        elif c in pairs:
            lo, hi = pairs[c]
            vals = [fmt_ci(m, a, b, digits) for m, a, b in zip(s, d[lo], d[hi])]
            name = f"{column_label(c)} [95 % CI]"
        elif c.lower() in _P_COLUMNS or c.lower().startswith("p_"):
            vals = ["—" if _is_missing(v) else (f"{float(v):.3g}" if isinstance(v, Real) else str(v)) for v in s]
            name = column_label(c)
        else:
            if labels and c in LABEL_COLUMNS:
                s = s.map(lambda v: method_label(v, main_layer=main_layer) if isinstance(v, str) and v else v)
            vals = [fmt_number(v, digits) if not isinstance(v, str) else v for v in s]
            name = column_label(c)
        out[name] = vals
        shown[c] = name
    text = pd.DataFrame(out)
    if rename:
        by_shown = {column_label(k): v for k, v in rename.items()} | rename
        by_source = {shown[k]: (f"{v} [95 % CI]" if k in pairs and not str(v).endswith("CI]") else v)
                     for k, v in rename.items() if k in shown}
        text = text.rename(columns=by_shown | by_source)
    return Table(data, text, caption=caption, max_rows=max_rows)
