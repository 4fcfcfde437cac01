"""Statistics of chain-correlated data (numpy and scipy only).

- :mod:`~isingvae.stats.resampling`: the one resampling machinery for error bars of
  chain-correlated data (jackknife over groups, bootstrap over chains), and the one
  rule for bootstrap replicates that fail (:func:`~isingvae.stats.resampling.replicate_error`);
- :mod:`~isingvae.stats.ensemble`: estimates of an ensemble of models, with the data's
  error and the models' spread together;
- :mod:`~isingvae.stats.fss`: finite-size-scaling extrapolation
  :math:`T_c(L) = T_c + a L^{-1/\\nu}`, its fit quality, and the combination of
  estimators into one headline value.

Autocorrelation times of a single chain live with the Monte Carlo
(:mod:`isingvae.mc.autocorr`).
"""
