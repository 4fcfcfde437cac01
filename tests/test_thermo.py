"""Neural importance sampling and neural MCMC, against exact enumeration.

The weights w = exp(-H/T) q(z|x) / (p(z) p(x|z)) have mean Z for any model, so even a
deliberately poor (untrained, randomised) model must give ln Z of the 4 x 4 torus within
its error bar; the independence Metropolis-Hastings chain built on the same weights must
sample the exact Boltzmann distribution of (E, M).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from isingvae import exact, lattice  # noqa: E402
from isingvae.evaluation import draws, importance, neural_mcmc  # noqa: E402
from isingvae.models import VAE  # noqa: E402
from tests._vae_helpers import all_states, boltzmann_probabilities, exact_iid_file  # noqa: E402

SMALL = dict(L=4, latent_dim=3, filters=(4,), units=(16,), decoder_width=8,
             decoder_depth=2)


def _poor_model(decoder: str, conditioned: bool, seed: int, fit: bool = True):
    """A small model fitted for one epoch to exact Boltzmann samples at T = 2 and 3
    (``fit``), or left untrained with randomised decoder weights: far from Boltzmann
    either way."""
    keras.utils.set_random_seed(seed)
    extra = dict(condition="temperature", t_center=2.5, t_scale=0.5, t_min=2.0, t_max=3.0,
                 kl_estimator="mc") if conditioned else {}
    model = VAE(**SMALL, decoder=decoder, **extra)
    rng = np.random.default_rng(seed)
    if not fit:
        for w in model.decoder.weights:
            w.assign(rng.normal(0, 0.3, w.shape).astype("float32"))
        return model
    xs, ts = [], []
    for T in (2.0, 3.0):
        states, p = boltzmann_probabilities(4, T)
        xs.append(((states[rng.choice(len(states), 1024, p=p)] + 1) / 2)[..., None])
        ts.append(np.full(1024, T))
    x = np.concatenate(xs).astype("float32")
    t = np.concatenate(ts).astype("float32")
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    order = rng.permutation(len(x))
    data = tf.data.Dataset.from_tensor_slices((x[order], t[order]) if conditioned
                                              else x[order]).batch(64)
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    return model


def _estimate(model, T, n, seed=0):
    spins, log_ratio = draws.proposals(model, T, n, seed)
    e, m = lattice.energy(spins), lattice.magnetization(spins)
    return importance.importance_estimates(e, m, log_ratio, T, 16), spins, log_ratio


@pytest.mark.parametrize("decoder,conditioned,fit,temperatures", [
    ("factorized", False, True, (2.0, 2.6)),
    ("autoregressive", True, True, (2.0, 2.5)),
    ("autoregressive", False, False, (4.0,)),     # untrained: only where pi_T is broad
])
def test_log_z_of_a_poor_model_agrees_with_enumeration(decoder, conditioned, fit,
                                                        temperatures):
    model = _poor_model(decoder, conditioned, 3, fit)
    for T in temperatures:
        est, _, log_ratio = _estimate(model, T, 30000)
        ex = exact.enumerate_lattice(4, T)
        assert np.all(np.isfinite(log_ratio))
        assert est["ess_fraction"] < 0.9                 # the model is indeed poor
        for key, ref in (("log_z_per_spin", ex.log_z), ("energy_per_spin", ex.energy),
                         ("specific_heat", ex.specific_heat),
                         ("abs_magnetization", ex.abs_magnetization),
                         ("susceptibility", ex.susceptibility_abs),
                         ("entropy_per_spin", ex.entropy)):
            err = est[f"{key}_stderr"]
            assert err > 0 and abs(est[key] - float(ref)) < 4 * err, (T, key, est[key], ref, err)
        assert est["free_energy_per_spin"] == pytest.approx(-T * est["log_z_per_spin"])


def test_the_estimates_are_what_the_weights_say():
    """The self-normalised averages and ln Z computed by hand from the same draws."""
    rng = np.random.default_rng(5)
    e = rng.uniform(-2, 0, 500)
    m = rng.uniform(-1, 1, 500)
    log_ratio = rng.normal(0, 1, 500)
    T, N = 2.5, 16
    est = importance.importance_estimates(e, m, log_ratio, T, N)
    w = np.exp(-N * e / T + log_ratio)
    p = w / w.sum()
    assert est["log_z_per_spin"] == pytest.approx(np.log(w.mean()) / N, rel=1e-12)
    assert est["energy_per_spin"] == pytest.approx(p @ e, rel=1e-12)
    assert est["specific_heat"] == pytest.approx(N * (p @ e**2 - (p @ e) ** 2) / T**2,
                                                 rel=1e-10)
    assert est["ess_fraction"] == pytest.approx(w.sum() ** 2 / (w**2).sum() / 500, rel=1e-12)
    assert np.allclose(importance.log_weights(e, log_ratio, T, N), np.log(w), rtol=1e-12)
    for name in ("specific_heat", "susceptibility"):       # C/N and chi/N, two names
        assert est[f"{name}_per_spin"] == est[name]
        assert est[f"{name}_per_spin_stderr"] == est[f"{name}_stderr"]
    with pytest.raises(Exception, match="not finite"):
        importance.importance_estimates(e, m, np.where(np.arange(500) == 3, np.nan, log_ratio),
                                    T, N)


def test_neural_mcmc_samples_the_exact_distribution_of_e_and_m():
    model = _poor_model("autoregressive", True, 7)
    T, chains, steps = 2.3, 3000, 40
    spins, log_ratio = draws.proposals(model, T, chains * steps, seed=1)
    e = lattice.energy(spins)
    state, accepted = neural_mcmc.mcmc_chains(
        importance.log_weights(e, log_ratio, T, 16), chains, seed=1)
    assert 0.05 < accepted.mean() < 1.0
    final = spins[state[-1]]                        # one state per independent chain
    s = all_states(4)
    keys = np.round(16 * lattice.energy(s)).astype(int) * 100 + np.round(
        16 * lattice.magnetization(s)).astype(int)
    w = np.exp(-16 * lattice.energy(s) / T)
    uniq, inv = np.unique(keys, return_inverse=True)
    p_exact = np.bincount(inv, weights=w) / w.sum()
    got = np.round(16 * lattice.energy(final)).astype(int) * 100 + np.round(
        16 * lattice.magnetization(final)).astype(int)
    counts = np.array([np.sum(got == k) for k in uniq])
    assert counts.sum() == chains                   # every sampled (E, M) is a real one
    expected = p_exact * chains
    big = expected >= 5
    f_obs = np.append(counts[big], counts[~big].sum())
    f_exp = np.append(expected[big], expected[~big].sum())
    assert stats.chisquare(f_obs, f_exp).pvalue > 1e-3
    # the chain's own summary
    summary = neural_mcmc.mcmc_summary(e, state, accepted, burn=4)
    assert summary["acceptance_rate"] == pytest.approx(accepted[3:].mean())
    assert summary["acceptance"] == summary["acceptance_rate"]
    assert summary["tau_int_energy"] >= 0.5


def test_same_seed_same_numbers_and_another_seed_other_numbers():
    model = _poor_model("autoregressive", False, 9, fit=False)
    a = _estimate(model, 2.3, 3000, seed=4)[0]
    b = _estimate(model, 2.3, 3000, seed=4)[0]
    c = _estimate(model, 2.3, 3000, seed=5)[0]
    assert a == b
    assert a["log_z_per_spin"] != c["log_z_per_spin"]


def test_thermo_and_mcmc_sampling_through_the_cli(tmp_path, capsys):
    from _safety_helpers import assert_refused, cli, cli_or_exit

    from isingvae.data import IsingDataset

    data = exact_iid_file(tmp_path / "l4.h5", 4, [2.0, 2.5, 3.0], 512, 5)
    run = tmp_path / "run"
    small = ["--filters", "4", "--units", "8", "--latent-dim", "2", "--batch-size", "64",
             "--decoder-width", "8", "--epochs", "2", "--quiet"]
    assert cli(["train", data, "--out", run, *small], capsys)[0] == 0
    out = tmp_path / "thermo.json"
    code, text, err = cli(["thermo", run, "--temperatures", "2.0,2.25", "--n", 3000,
                           "--out", out, "--quiet"], capsys)
    assert code == 0, err
    res = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(c))  # no NaN
    assert (tmp_path / "thermo.png").stat().st_size > 1000
    assert [r["temperature"] for r in res["per_temperature"]] == [2.0, 2.25]
    assert res["reliability_thresholds"] == importance.thresholds()
    header = text.splitlines()[0].split()
    for column in ("ESS/n", "ESS", "k-hat", "ok"):
        assert column in header
    table = text.splitlines()[1:3]
    for r in res["per_temperature"]:
        for key in ("log_z_per_spin", "free_energy_per_spin", "energy_per_spin",
                    "abs_magnetization", "specific_heat", "susceptibility",
                    "specific_heat_per_spin", "susceptibility_per_spin",
                    "entropy_per_spin"):
            assert np.isfinite(r[key]) and r[f"{key}_stderr"] > 0
        assert 0 < r["ess_fraction"] <= 1 and 0 <= r["mcmc"]["acceptance_rate"] <= 1
        # 3000 draws on 16 chains: 187 steps each, 170 kept after a burn-in of 17
        assert (r["mcmc"]["steps_per_chain"], r["mcmc"]["burn_in"]) == (170, 17)
        assert r["exact"]["specific_heat_per_spin"] == pytest.approx(float(
            exact.finite_lattice(4, r["temperature"]).specific_heat))
        ex = exact.finite_lattice(4, r["temperature"])
        assert r["exact"]["free_energy_per_spin"] == pytest.approx(
            -r["temperature"] * float(ex.log_z))
        assert abs(r["free_energy_per_spin"] - r["exact"]["free_energy_per_spin"]) < \
            5 * r["free_energy_per_spin_stderr"] + 1e-6
        # the reliability diagnostics, and what the table and the lines below it say
        assert r["ess"] == pytest.approx(r["ess_fraction"] * 3000)
        assert r["pareto_k"] is None or np.isfinite(r["pareto_k"])
        assert r["batches"] == importance.BATCHES
        assert r["reliable"] == (r["unreliable_because"] is None)
        assert r["stderr_inflated"] == (not r["reliable"])
        assert r["free_energy_per_spin_stderr"] >= r["stderr_delta"]["free_energy_per_spin"]
        line = next(t for t in table if t.split()[0] == f"{r['temperature']:.4f}")
        assert line.split()[2] == f"{r['ess']:.1f}"
        assert line.split()[4] in (("yes", "slow") if r["reliable"] else ("NO",))
        said = f"unreliable at T = {r['temperature']:g}: {r['unreliable_because']}"
        assert (said in text) == (not r["reliable"])
    # Boltzmann samples from the chains, in the data layout
    mc = tmp_path / "mcmc.h5"
    code, text, err = cli(["sample", run, "--mcmc", "--temperature", 2.5, "--n", 200,
                           "--chains", 8, "--out", mc], capsys)
    assert code == 0, err and "acceptance" in text
    ds = IsingDataset(mc)
    assert ds.n == 200 and np.all(ds.temperature == 2.5)
    assert np.unique(ds.chain).tolist() == list(range(8))
    assert np.all(np.bincount(ds.chain) == 25)
    from isingvae.storage import read_header

    head = read_header(mc)
    assert head.algorithm == "vae-mcmc"
    assert 0 < float(head.attrs["acceptance_rate"]) <= 1 and float(head.attrs["tau_int_energy"]) > 0
    assert head.attrs["acceptance"] == head.attrs["acceptance_rate"]       # its 0.1 name
    assert int(head.attrs["burn_in"]) == neural_mcmc.burn_in(25) == 2
    # bad input: one line, exit 2, nothing written
    bad = tmp_path / "bad.json"
    for argv, needle in [
        (["thermo", run, "--temperatures", "0", "--n", 10, "--out", bad], "positive"),
        (["thermo", run, "--temperatures", "nan", "--n", 10, "--out", bad], "nan"),
        (["thermo", run, "--temperatures", "3.5", "--n", 10, "--out", bad], "outside the range"),
        (["thermo", run, "--temperatures", "2.5", "--n", 1, "--out", bad], "--n"),
        (["thermo", tmp_path, "--temperatures", "2.5", "--n", 10, "--out", bad], str(tmp_path)),
        (["sample", run, "--mcmc", "--n", 10, "--out", bad], "one --temperature"),
    ]:
        assert_refused(cli_or_exit(argv, capsys), needle)
    assert not bad.exists()


def test_one_burn_in_rule_for_every_neural_mcmc():
    """A tenth of the kept steps, at least one; kept_steps is the largest chain that fits."""
    assert [neural_mcmc.burn_in(k) for k in (1, 9, 10, 25, 170, 1000)] == [1, 1, 1, 2, 17, 100]
    for steps in range(2, 3000):
        kept = neural_mcmc.kept_steps(steps)
        assert kept + neural_mcmc.burn_in(kept) <= steps
        assert kept + 1 + neural_mcmc.burn_in(kept + 1) > steps
    assert neural_mcmc.kept_steps(1) == 0
    rng = np.random.default_rng(0)
    e, log_w = rng.normal(size=400), rng.normal(size=400)
    run = neural_mcmc.run_chains(e, log_w, 4, kept=90, seed=3)
    rows, chain = run.rows()
    assert run.burn == 9 and run.state.shape == (99, 4)
    assert rows.size == 360 and np.array_equal(chain, np.repeat(np.arange(4), 90))
    assert np.array_equal(rows[:90], run.state[9:, 0])          # chain by chain
    with pytest.raises(Exception, match="too few"):
        neural_mcmc.run_chains(e, log_w, 4, kept=92, seed=3)      # 4 x 101 > 400


def test_cli_chain_default_is_the_neural_mcmc_default():
    from isingvae.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    chains = next(a for a in sub.choices["sample"]._actions if a.dest == "chains")
    assert f"default {neural_mcmc.DEFAULT_CHAINS})" in chains.help
