"""The shared ground floor: profiles and typed settings (:mod:`~saeprobe.core.config`,
:mod:`~saeprobe.core.settings`), caches (:mod:`~saeprobe.core.cache`), models
(:mod:`~saeprobe.core.models`), P1's datasets (:mod:`~saeprobe.core.data`), cached activations
(:mod:`~saeprobe.core.activations`) and statistics (:mod:`~saeprobe.core.stats`).

``core`` imports no paper package and not :mod:`saeprobe.saes` (a test parses every import).
Inside it: ``settings``, ``data``, ``cache``, ``stats`` import nothing of saeprobe; ``config``
imports ``settings`` and ``data``; ``models`` imports ``config``; ``activations`` imports them all.
"""
