"""What a reader sees: readable tables, one figure style, the verdict box at the top of a page.

Notebooks use it as ``from saeprobe import show``:

- :func:`show.table(df) <saeprobe.show.tables.table>` -- a DataFrame as a table made for reading (no
  index, readable column and method names, CIs as ``0.855 [0.794, 0.912]``, long tables in a scroll
  box with a sticky header);
- :func:`show.setup(prof) <saeprobe.show.figures.setup>` (once per page: the style and the main layer),
  :func:`show.style() <saeprobe.show.figures.style>` and :func:`show.color(label)
  <saeprobe.show.figures.color>` -- the book's matplotlib style and one colour per method on every
  page; :func:`show.figure(fig, key) <saeprobe.show.figures.figure>` glues a figure for a captioned,
  numbered ``{glue:figure}`` in the page's text;
- :func:`show.claims_figure(table) <saeprobe.show.claims_figure.claims_figure>` -- every claim, ours
  against the paper's (the claims page and the front page);
- :func:`show.verdict_box(rows) <saeprobe.show.verdict.verdict_box>` -- the page's claims (rows of
  :func:`saeprobe.core.claims.record_claim`) as the box the page opens with.

Imports ``saeprobe.core`` only (no paper package).
"""
from saeprobe.show.claims_figure import VERDICT_COLOURS, claims_figure, save_png
from saeprobe.show.figures import PALETTE, color, figure, setup, style
from saeprobe.show.labels import column_label, method_label
from saeprobe.show.tables import Table, fmt_ci, table
from saeprobe.show.verdict import verdict_box, verdict_markdown

__all__ = ["VERDICT_COLOURS", "claims_figure", "save_png", "PALETTE", "color", "figure", "setup", "style", "column_label", "method_label", "Table", "fmt_ci", "table",
           "verdict_box", "verdict_markdown"]
