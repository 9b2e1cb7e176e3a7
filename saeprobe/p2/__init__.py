"""P2 -- Paulo & Belrose 2025, *Sparse Autoencoders Trained on the Same Data Learn Different Features*:
SAEs that differ only in their seed share a minority of latents (Hungarian matching of decoder and
encoder directions); TopK is less stable than ReLU + L1; sharing falls with width, rises with tokens.

* :mod:`~saeprobe.p2.matching` -- directions, cosine matrix, dense and sparse assignment, ``match``
  (cached on disk); :mod:`~saeprobe.p2.result` -- ``MatchResult`` (shared fractions, sweeps);
* :mod:`~saeprobe.p2.seeds` -- seed-replica groups, the group each page reports, multi-seed counts,
  means over seed pairs with CIs;
* :mod:`~saeprobe.p2.analysis` -- the paper's numbers, sharedness vs frequency, top examples, probes
  across seeds (P1 x P2), and the verdict rules.

The cost model and timings of the matching are ``benchmarks/matching.py``.
"""
