"""Statistics of chain-correlated data (numpy and scipy only).

- :mod:`~isingvae.stats.resampling`: the one resampling machinery for error bars of
  chain-correlated data (jackknife over groups, bootstrap over chains);
- :mod:`~isingvae.stats.fss`: finite-size-scaling extrapolation
  :math:`T_c(L) = T_c + a L^{-1/\\nu}`.

Autocorrelation times of a single chain live with the Monte Carlo
(:mod:`isingvae.mc.autocorr`).
"""
