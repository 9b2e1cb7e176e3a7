"""What every P3 notebook starts from: :func:`setup` -> :class:`Setup`.

The profile (with P3's row cap), its resolved :class:`~saeprobe.core.settings.P3Settings`
(:func:`saeprobe.p3.settings.settings`, re-exported here), the profile's SAEs (trained or loaded) and
the model, plus notes in words on what is missing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from saeprobe.core.config import load_profile
from saeprobe.core.models import load_profile_model
from saeprobe.core.settings import P3Settings
from saeprobe.p3.features import load_saes, sae_table
from saeprobe.p3.settings import main_layer, p3_profile, settings

__all__ = ["Setup", "setup", "settings"]


@dataclass
class Setup:
    """What every P3 notebook starts from (see :func:`setup`)."""

    profile: Any
    settings: P3Settings
    table: pd.DataFrame            # :func:`saeprobe.p3.features.sae_table` rows used
    saes_by_hook: dict             # {hook: {name: sae}}
    model: Any = None
    notes: list = field(default_factory=list)

    @property
    def has_saes(self) -> bool:
        return not self.table.empty

    @property
    def main_layer(self) -> int:
        """The layer the pages quote (:func:`saeprobe.p3.settings.main_layer`)."""
        return main_layer(self.profile, self.settings)


def setup(profile, *, widths: str = "main", progress: bool = False) -> Setup:
    """Profile (with P3's row cap), settings, the profile's SAEs and the model, ready for the notebooks.

    ``widths="main"``: only the main-width SAE per layer (notebooks 40, 42, 43); ``"all"``: every width
    (notebook 41). Missing SAEs are trained (or loaded from the cache) by ``saeprobe.saes.get_sae``.
    ``notes`` says in words what is missing (no SAEs in the profile, a layer without SAEs, one width only).
    """

    prof = p3_profile(load_profile(profile))
    s = settings(prof)
    table = sae_table(prof)
    notes = []
    if table.empty:
        notes.append(f"Profile `{prof.name}` defines no SAEs at layers {list(s.layers)} (its `sae:` section), so "
                     "only the hidden-state and TF-IDF baselines run.")
    else:
        for layer in s.layers:
            w = sorted(table[table.layer == layer].width.unique())
            if not w:
                notes.append(f"No SAE is trained at layer {layer}.")
            elif len(w) < 2:
                notes.append(f"Layer {layer} has one SAE width only ({w[0]}).")
        if widths == "main":
            table = table[table["main"]]
    model = load_profile_model(prof)
    by_hook = load_saes(prof, table, model=model, progress=progress) if not table.empty else {}
    return Setup(prof, s, table.reset_index(drop=True), by_hook, model, notes)
