"""P1 -- Kantamneni, Engels, Rajamanoharan, Tegmark, Nanda 2025, *Are Sparse Autoencoders Useful? A
Case Study in Sparse Probing*: SAE top-k latent probes against strong baselines in five regimes.

* :mod:`~saeprobe.p1.probes` -- the estimators' registry (:mod:`~saeprobe.p1.lr`,
  :mod:`~saeprobe.p1.baselines`, :mod:`~saeprobe.p1.sae_probe`, on :mod:`~saeprobe.p1.base`),
  P1's inner validation as a splitter (:mod:`~saeprobe.p1.validation`);
* :mod:`~saeprobe.p1.splits` -- P1's train/test splits of every regime, index for index;
* :mod:`~saeprobe.p1.runner` -- the resumable results grid, one cell per (dataset, point, method);
* :mod:`~saeprobe.p1.features` -- what the notebooks feed the runner (activations, SAE codes, splits);
* :mod:`~saeprobe.p1.quiver` -- P1's quiver of arrows and paired method comparisons;
* :mod:`~saeprobe.p1.leakage` -- duplicate prompts across P1's split.
* :mod:`~saeprobe.p1.attention` -- P1's attention probe on every token (sklearn-style estimator);
* :mod:`~saeprobe.p1.multitoken` / :mod:`~saeprobe.p1.multitoken_report` -- P1's multi-token
  protocol (attention, last-token, concat-PCA, SAE max/mean pooled) and its comparisons.
"""
