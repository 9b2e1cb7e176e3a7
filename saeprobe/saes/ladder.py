"""The quality ladder: the main SAE trained at several token budgets (the experiment none of the three
papers ran). Which SAEs the ladder trains is an SAE question, answered here; what each paper
concludes on each rung is measured by notebook 21 with each paper's own package.

Rung ``f`` of the ladder is ``sae.saes[ladder.entry]`` at the main layer with ``f`` times its token
budget (at least one batch), trained with each of ``ladder.seeds``. A rung's SAEs are named
``ladder-<tokens>k-s<seed>`` for the tables.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from saeprobe.saes.specs import SAESpec

__all__ = ["Rung", "ladder_rungs"]


@dataclass(frozen=True)
class Rung:
    """One SAE of the ladder: its budget ``fraction``, ``tokens`` seen, ``seed`` and :class:`SAESpec`."""

    fraction: float
    tokens: int
    seed: int
    spec: SAESpec

    @property
    def name(self) -> str:
        size = f"{self.tokens // 1000}k" if self.tokens >= 10_000 else str(self.tokens)
        return f"ladder-{size}-s{self.seed}"


def ladder_rungs(profile: Any) -> list[Rung]:
    """The ladder's SAEs, by increasing budget then seed; empty when the profile trains no SAE."""
    lad = profile.sae.ladder
    if not profile.sae.saes:
        return []
    entry = profile.sae.saes[lad.entry]
    base = SAESpec(arch=entry.arch, width=entry.width, k=entry.k, l1_coefficient=entry.l1_coefficient,
                   target_l0=entry.target_l0, matryoshka_widths=entry.matryoshka_widths,
                   **entry.training(profile.sae.train), seed=0, layer=profile.main_layer)
    fracs = sorted(set(lad.fractions) | (set(lad.extra_fractions) if lad.include_extra else set()))
    out = []
    for f in fracs:  # f = 1 is the entry itself (same spec, so its cached SAE is reused)
        tokens = max(base.batch_size, int(round(base.tokens * f)))
        for seed in lad.seeds:
            out.append(Rung(float(f), int(tokens), int(seed), replace(base, tokens=int(tokens), seed=int(seed))))
    return out
