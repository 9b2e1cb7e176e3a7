"""The claims table: which of the papers' headline claims hold here, one row per claim.

Every page that tests a claim records it with :func:`record_claim`: the paper's number, ours with its
95 % CI, and a :class:`Rule` -- the verdict is computed from the CI by the rule, never typed. Each
call writes one fragment, ``<claims dir>/<page>/<id>.json``, atomically (:mod:`saeprobe.core.cache`);
the claims page (``notebooks/99_claims.py``) runs after every other page and :func:`assemble` joins
the fragments into ``book/_generated/claims.csv`` (columns :data:`COLUMNS`).

The claims folder is ``$SAEPROBE_CLAIMS_DIR`` (the book runner sets it) or
``<repository>/book/_generated/claims`` found upwards from the current folder. The runner deletes a
page's fragments before it executes that page, so a claim a page stops recording disappears.

Verdicts (:data:`VERDICTS`): ``reproduces``, ``partly``, ``does not``, and ``not run here — <why>``.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saeprobe.core.cache import atomic_write_json, atomic_write_text
from saeprobe.core.stats import CI

__all__ = ["VERDICTS", "COLUMNS", "Rule", "direction", "no_gain", "close_to", "not_run", "record_claim",
           "claims_dir", "read_fragments", "assemble", "fragments_digest", "claim_markdown"]

VERDICTS = ("reproduces", "partly", "does not", "not run here")
COLUMNS = ("id", "paper", "claim", "paper_value", "ours", "ci_lo", "ci_hi", "verdict", "page", "rule", "profile")
PAPERS = ("P1", "P2", "P3")
CLAIMS_ENV = "SAEPROBE_CLAIMS_DIR"
NOT_RUN = "not run here — "
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_PAGE_RE = re.compile(r"^\d\d_[A-Za-z0-9_\-]+$")


def _finite(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


@dataclass(frozen=True)
class Rule:
    """A verdict rule: ``kind`` ∈ {"direction", "no_gain", "close_to", "not_run"} and its number.

    * ``direction`` (``sign`` ±1): the paper says the quantity is below 0 (sign −1) or above 0 (+1).
      reproduces: the whole CI is on that side; partly: ours is on that side, the CI reaches 0;
      does not: ours is 0 or on the other side.
    * ``no_gain`` (``margin`` ≥ 0): the paper says A does not beat B (quantity = A − B not above 0).
      does not: the CI lies above 0; reproduces: the CI's top is ≤ ``margin``; partly: otherwise
      (no gain shown, but one larger than the margin is not ruled out).
    * ``close_to`` (``tol``): ours should equal the paper's number. reproduces: the paper's number is
      inside the CI widened by ``tol`` on both sides; partly: within 2·``tol`` of ours; does not: else.
    * ``not_run`` (``why``): the page cannot test it here.
    """

    kind: str
    value: float = 0.0
    why: str = ""

    def __post_init__(self):
        if self.kind not in ("direction", "no_gain", "close_to", "not_run"):
            raise ValueError(f"Rule: unknown kind {self.kind!r} (direction, no_gain, close_to, not_run)")

    def describe(self) -> str:
        """The rule in one sentence, as the claims page states it."""
        if self.kind == "direction":
            side = "below" if self.value < 0 else "above"
            return (f"direction: reproduces if the 95 % CI lies {side} 0; partly if ours is {side} 0 but the CI "
                    "reaches 0; does not otherwise")
        if self.kind == "no_gain":
            return (f"no gain: does not if the CI lies above 0; reproduces if its top is ≤ {self.value:g}; "
                    "partly otherwise")
        if self.kind == "close_to":
            return (f"close to the paper: reproduces if the paper's value is within the CI ± {self.value:g}; "
                    f"partly if within {2 * self.value:g} of ours; does not otherwise")
        return f"not run here: {self.why}"

    def verdict(self, ours: float, lo: float, hi: float, paper_value: float | None) -> str:
        """The verdict for ours (with CI ``[lo, hi]``, NaN when unknown) against ``paper_value``."""
        if self.kind == "not_run":
            return NOT_RUN + self.why
        if not _finite(ours):
            return NOT_RUN + "the page computed no value on this profile"
        has_ci = _finite(lo) and _finite(hi)
        if self.kind == "direction":
            s = 1.0 if self.value > 0 else -1.0
            if s * ours <= 0:
                return "does not"
            return "reproduces" if has_ci and s * lo > 0 and s * hi > 0 else "partly"
        if self.kind == "no_gain":
            if has_ci and lo > 0:
                return "does not"
            if has_ci and hi <= self.value:
                return "reproduces"
            return "partly" if has_ci or ours <= self.value else "does not"
        if not _finite(paper_value):
            raise ValueError("Rule close_to needs the paper's value")
        lo_, hi_ = (lo, hi) if has_ci else (ours, ours)
        if lo_ - self.value <= paper_value <= hi_ + self.value:
            return "reproduces"
        return "partly" if abs(ours - paper_value) <= 2 * self.value else "does not"


def direction(sign: int) -> Rule:
    """The paper says the quantity is below 0 (``sign=-1``) or above 0 (``sign=+1``)."""
    if sign not in (-1, 1):
        raise ValueError(f"direction: sign must be -1 or +1, got {sign!r}")
    return Rule("direction", float(sign))


def no_gain(margin: float = 0.01) -> Rule:
    """The paper says A does not beat B; the quantity is A − B."""
    return Rule("no_gain", float(margin))


def close_to(tol: float) -> Rule:
    """Ours should equal the paper's number, within ``tol``."""
    return Rule("close_to", float(tol))


def not_run(why: str) -> Rule:
    """The claim cannot be tested here; ``why`` says what it needs (e.g. "needs the hub")."""
    if not why.strip():
        raise ValueError("not_run: say why the claim is not run here")
    return Rule("not_run", 0.0, why.strip())


# ------------------------------------------------------------------------------------------ where
def claims_dir(start: str | os.PathLike | None = None) -> Path:
    """``$SAEPROBE_CLAIMS_DIR``, else ``book/_generated/claims`` of the repository above ``start``
    (default: the current folder; a notebook runs in ``notebooks/``)."""
    env = os.environ.get(CLAIMS_ENV)
    if env:
        return Path(env)
    here = Path(start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        if (folder / "_toc.yml").exists() and (folder / "notebooks").is_dir():
            return folder / "book" / "_generated" / "claims"
    raise ValueError(f"claims: no repository (a folder with _toc.yml and notebooks/) above {here}; "
                     f"set {CLAIMS_ENV}")


def _number(x, what: str) -> float:
    if x is None:
        return float("nan")
    try:
        return float(x)
    except (TypeError, ValueError):
        raise ValueError(f"record_claim: {what} must be a number, got {x!r}") from None


def _unpack(ours) -> tuple[float, float, float]:
    """ours as a number, a :class:`~saeprobe.core.stats.CI`, or a paired-test dict (``mean_diff``)."""
    if isinstance(ours, CI):
        return ours.mean, ours.lo, ours.hi
    if isinstance(ours, dict) and "mean_diff" in ours:
        return float(ours["mean_diff"]), float(ours["ci_lo"]), float(ours["ci_hi"])
    return _number(ours, "ours"), float("nan"), float("nan")


def record_claim(profile: Any, id: str, *, paper: str, claim: str, paper_value: float | None, ours: Any = None,
                 ci_lo: float | None = None, ci_hi: float | None = None, rule: Rule, page: str,
                 folder: str | os.PathLike | None = None) -> dict:
    """Record one claim of ``paper`` tested on ``page``; returns its row (keys :data:`COLUMNS`).

    ``ours``: a number (then ``ci_lo``/``ci_hi``), a ``stats.CI`` or a ``stats.paired_test`` dict.
    The verdict is ``rule.verdict(...)``. Writes ``<folder or claims_dir()>/<page>/<id>.json``.
    """
    if not isinstance(id, str) or not _ID_RE.match(id):
        raise ValueError(f"record_claim: id {id!r} must be lower-case letters, digits, '_', '.', '-'")
    if paper not in PAPERS:
        raise ValueError(f"record_claim: paper must be one of {PAPERS}, got {paper!r}")
    if not isinstance(page, str) or not _PAGE_RE.match(page):
        raise ValueError(f"record_claim: page {page!r} must be a notebook name NN_name (e.g. 10_standard)")
    if not isinstance(rule, Rule):
        raise ValueError("record_claim: rule must be a claims.Rule (direction, no_gain, close_to, not_run)")
    if not str(claim).strip():
        raise ValueError("record_claim: the claim needs one sentence")
    mean, lo, hi = _unpack(ours)
    if ci_lo is not None or ci_hi is not None:
        lo, hi = _number(ci_lo, "ci_lo"), _number(ci_hi, "ci_hi")
    if _finite(lo) and _finite(hi) and not lo <= hi:
        raise ValueError(f"record_claim {id}: ci_lo {lo} > ci_hi {hi}")
    pv = _number(paper_value, "paper_value")
    if rule.kind == "not_run":
        mean, lo, hi = float("nan"), float("nan"), float("nan")
    row = {"id": id, "paper": paper, "claim": " ".join(str(claim).split()), "paper_value": pv, "ours": mean,
           "ci_lo": lo, "ci_hi": hi, "verdict": rule.verdict(mean, lo, hi, pv), "page": page,
           "rule": rule.describe(), "profile": str(getattr(profile, "name", profile))}
    out = Path(folder) if folder is not None else claims_dir()
    # NaN is not JSON: store None (no timestamps either, so an unchanged claim is an unchanged file)
    atomic_write_json(out / page / f"{id}.json", {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                                                  for k, v in row.items()}, indent=1, sort_keys=True)
    return row


# --------------------------------------------------------------------------------------- assembly
def _fragments(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*.json")) if folder.is_dir() else []


def read_fragments(folder: str | os.PathLike | None = None) -> list[dict]:
    """Every fragment under ``folder`` (default :func:`claims_dir`), validated: one-line error naming
    the file for a bad one."""
    folder = Path(folder) if folder is not None else claims_dir()
    rows = []
    for path in _fragments(folder):
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise ValueError(f"claims: {path}: not JSON ({err})") from None
        missing = [c for c in COLUMNS if c not in row] if isinstance(row, dict) else list(COLUMNS)
        if missing:
            raise ValueError(f"claims: {path}: missing {missing}")
        if not (row["verdict"] in VERDICTS[:3] or str(row["verdict"]).startswith(NOT_RUN)):
            raise ValueError(f"claims: {path}: verdict {row['verdict']!r} is not one of {VERDICTS}")
        if row["page"] != path.parent.name or row["id"] != path.stem:
            raise ValueError(f"claims: {path}: page/id {row['page']}/{row['id']} do not match the file's place")
        rows.append({c: (float("nan") if row[c] is None else row[c]) for c in COLUMNS})
    return rows


def assemble(folder: str | os.PathLike | None = None, out: str | os.PathLike | None = None,
             profile: str | None = None):
    """Join the fragments into one table (sorted by paper, page, id) and write it as CSV to ``out``
    (default: ``claims.csv`` beside the claims folder). With ``profile``, fragments recorded under
    another profile are left out (listed in ``table.attrs["other_profiles"]``). Two pages recording
    one id: one-line error naming both."""
    import pandas as pd

    folder = Path(folder) if folder is not None else claims_dir()
    rows = read_fragments(folder)
    other = [r for r in rows if profile is not None and r["profile"] != str(getattr(profile, "name", profile))]
    rows = [r for r in rows if r not in other]
    seen = {}
    for r in rows:
        if r["id"] in seen:
            raise ValueError(f"claims: id {r['id']!r} recorded by both {seen[r['id']]} and {r['page']}")
        seen[r["id"]] = r["page"]
    table = pd.DataFrame(rows, columns=list(COLUMNS)).sort_values(["paper", "page", "id"], kind="stable")
    table = table.reset_index(drop=True)
    dest = Path(out) if out is not None else folder.parent / "claims.csv"
    atomic_write_text(dest, table.to_csv(index=False))
    table.attrs["other_profiles"] = [f"{r['page']}/{r['id']} ({r['profile']})" for r in other]
    table.attrs["path"] = str(dest)
    return table


def fragments_digest(folder: str | os.PathLike) -> str:
    """sha256 over every fragment's path and bytes: the claims page reruns exactly when this changes."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in _fragments(folder):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def claim_markdown(row: dict) -> str:
    """One line for the page that tests the claim: the claim, both numbers, the rule and the verdict."""
    def f(x):
        return f"{x:.3f}" if _finite(x) else "—"

    ci = f" [{f(row['ci_lo'])}, {f(row['ci_hi'])}]" if _finite(row["ci_lo"]) else ""
    return (f"**Claim `{row['id']}`** ({row['paper']}): {row['claim']} Paper: {f(row['paper_value'])}; "
            f"ours: {f(row['ours'])}{ci}. Rule: {row['rule']}. **Verdict: {row['verdict']}.**")
