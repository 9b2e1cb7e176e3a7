"""The SAE corpus split by P1 source family: two training corpora that share no family (P2's "two
datasets" axis, on our data).

The SAE corpus (:mod:`saeprobe.saes.corpus`) is drawn from P1's binary datasets outside the
profile's evaluation subset. Each of those datasets belongs to one P1 source family (the
``family`` column of :func:`saeprobe.core.data.registry`: ``headline``, ``wikidata``, ``phrase``,
``glue``, ``us_state``, ...). :func:`family_split` puts every family in exactly one of two groups;
:func:`family_rows` picks the corpus tokens of texts whose every family is in a group -- a text
that occurs in datasets of both groups (P1's datasets share some prompts) is in neither, so the
two corpora share no text. The held-out tokens are never training rows.

Shapes: ``family_rows`` returns a bool mask ``[N]`` over the corpus tokens.
"""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from typing import Any, Sequence

import torch

from saeprobe.core import data

__all__ = ["candidate_families", "text_families", "family_split", "family_rows"]


def candidate_families(profile: Any) -> dict[str, str]:
    """``{dataset: family}`` of the binary datasets the profile's SAE corpus draws from (those
    outside its evaluation subset), in P1's order."""
    reg = data.registry().set_index("name")
    ev = set(profile.dataset_names())
    return {n: str(reg.loc[n, "family"]) for n in data.list_datasets("binary") if n not in ev}


@lru_cache(maxsize=4)
def _text_families(names: tuple[str, ...], fams: tuple[str, ...]) -> dict[str, frozenset]:
    out: dict[str, set] = {}
    for n, f in zip(names, fams):
        for t in data.load_dataset(n).texts:
            out.setdefault(t, set()).add(f)
    return {t: frozenset(v) for t, v in out.items()}


def text_families(profile: Any) -> dict[str, frozenset]:
    """``{text: families it occurs in}`` over the corpus's candidate datasets."""
    cf = candidate_families(profile)
    return _text_families(tuple(cf), tuple(cf.values()))


def family_split(profile: Any, corpus: Any = None, families_a: Sequence[str] | None = None
                 ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(families of corpus A, families of corpus B)``: disjoint, together every candidate family.

    ``families_a`` given: those (each must be a candidate family) and the rest. None: a
    deterministic split balanced by training tokens of ``corpus`` (a
    :class:`~saeprobe.saes.corpus.TokenCorpus`; None: by number of distinct texts) -- families by
    decreasing weight (then by name), each put in the group with less weight so far (ties: A).
    """
    fams = sorted(set(candidate_families(profile).values()))
    if families_a is not None:
        unknown = sorted(set(families_a) - set(fams))
        if unknown:
            raise ValueError(f"p2.axes.families_a: {unknown} are not source families of profile {profile.name!r}'s "
                             f"SAE corpus; its families: {fams}")
        a = tuple(sorted(set(families_a)))
        b = tuple(f for f in fams if f not in a)
        if not a or not b:
            raise ValueError("p2.axes.families_a must leave at least one family for each corpus")
        return a, b
    tf = text_families(profile)
    weight: Counter = Counter()
    if corpus is None:
        for fs in tf.values():
            weight.update(fs)
    else:
        n_tok = torch.bincount(corpus.text_index[~corpus.heldout], minlength=len(corpus.texts)).tolist()
        for t, n in zip(corpus.texts, n_tok):
            for f in tf.get(t, ()):
                weight[f] += n
    groups: tuple[list, list] = ([], [])
    size = [0, 0]
    for f in sorted(fams, key=lambda f: (-weight[f], f)):
        i = 0 if size[0] <= size[1] else 1
        groups[i].append(f)
        size[i] += weight[f]
    return tuple(sorted(groups[0])), tuple(sorted(groups[1]))


def family_rows(profile: Any, corpus: Any, families: Sequence[str]) -> torch.Tensor:
    """Bool mask ``[N]`` of ``corpus``'s training (not held-out) tokens whose text occurs only in
    datasets of ``families``."""
    keep = set(families)
    tf = text_families(profile)
    ok = torch.tensor([bool(tf.get(t)) and tf[t] <= keep for t in corpus.texts], dtype=torch.bool)
    return ok[corpus.text_index] & ~corpus.heldout
