"""The image notebook's loader, metrics, DDPM learner and observability claims at smoke size.

The Gaussian chi^2 closed form used for the drift is checked against Monte Carlo in test_theory.py
(test_gaussian_divergences_match_monte_carlo).
"""

import gzip
import pickle

import numpy as np
import pytest

from collapse.core.diffusion import SamplerConfig
from collapse.core.gaussian import chi2_gaussian
from collapse.infra.cache import Checkpoints
from collapse.models import fashion_mnist
from collapse.models.ddpm import DDPM
from collapse.studies import images


@pytest.fixture(scope="module")
def train_split():
    return fashion_mnist.load("train")


def test_loader_returns_documented_shapes_dtypes_and_label_counts(train_split):
    for (x, y), n in ((train_split, 60_000), (fashion_mnist.load("test"), 10_000)):
        assert x.shape == (n, 28, 28) and x.dtype == np.uint8 and y.shape == (n,) and y.dtype == np.uint8
        assert np.array_equal(np.bincount(y, minlength=10), np.full(10, n // 10))  # balanced classes
        assert x.max() == 255 and x.min() == 0


def test_missing_or_damaged_files_fail_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("COLLAPSE_FASHION_MNIST", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load("train")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        fashion_mnist.load("validation")
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(gzip.compress(np.array([2049, 1], ">u4").tobytes()))
    with pytest.raises(ValueError, match="not an IDX images file"):
        fashion_mnist.read_idx(bad, "images")


def test_model_scale_pools_into_minus_one_to_one(train_split):
    x = train_split[0][:50]
    full, half = fashion_mnist.to_model_scale(x, 28), fashion_mnist.to_model_scale(x, 14)
    assert full.shape == (50, 1, 28, 28) and half.shape == (50, 1, 14, 14) and half.dtype == np.float32
    assert full.min() >= -1 and full.max() <= 1
    np.testing.assert_allclose(half[:, 0, 3, 5], full[:, 0, 6:8, 10:12].mean(axis=(1, 2)), rtol=1e-6)
    with pytest.raises(ValueError, match="resolution=5 must divide 28"):
        fashion_mnist.to_model_scale(x, 5)


def test_feature_divergences_vanish_on_the_reference_and_match_closed_forms(rng):
    features = rng.standard_normal((500, 4)) @ rng.standard_normal((4, 4))
    own = images.feature_divergences(features, images.moments(features))
    assert own["chi2"] == pytest.approx(0, abs=1e-9) and own["kl"] == pytest.approx(0, abs=1e-9)
    assert own["fid"] == pytest.approx(0, abs=1e-6)
    a, b, shift = np.array([1.0, 2.0, 0.5]), np.array([1.5, 1.0, 0.7]), np.array([0.3, -0.2, 0.1])
    fid = images.frechet_distance(shift, np.diag(a), np.zeros(3), np.diag(b))  # commuting: sum (sqrt a - sqrt b)^2
    assert fid == pytest.approx(np.sum(shift**2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2), rel=1e-9)
    assert images.feature_divergences(features * 3, images.moments(features))["chi2"] == np.inf  # 2 c2 - c1 < 0
    assert chi2_gaussian(shift, np.diag(a), 0 * shift, np.diag(b)) > 0


def test_sampling_grid_runs_from_T_to_t0_evenly_in_log_snr():
    times = SamplerConfig(10.0, 1e-3, 40, grid="log-snr").edges()
    assert times[0] == pytest.approx(10.0) and times[-1] == pytest.approx(1e-3) and np.all(np.diff(times) < 0)
    snr = -times - np.log(-np.expm1(-times))
    np.testing.assert_allclose(np.diff(snr), np.diff(snr)[0], rtol=1e-8)


@pytest.fixture(scope="module")
def small_ddpm(train_split):
    data = fashion_mnist.to_model_scale(train_split[0][:2000], 14)  # 320 steps: enough for a score with structure
    return DDPM(channels=(8, 16), base_epochs=10, epochs=1, batch=64, lr=3e-3, sample_steps=20).fit(data)


def test_later_fits_continue_at_their_own_learning_rate(monkeypatch):
    """Generation 0 trains at ``lr``, every later fit at ``continue_lr`` (each a fresh AdamW)."""
    import torch

    rates, adamw = [], torch.optim.AdamW
    monkeypatch.setattr(torch.optim, "AdamW", lambda parameters, lr, **kw: rates.append(lr) or adamw(
        parameters, lr=lr, **kw))
    x = np.zeros((8, 1, 8, 8), np.float32)
    DDPM(channels=(8, 16), batch=4, base_epochs=1, epochs=1, lr=3e-3, continue_lr=3e-4, sample_steps=2).fit(x).fit(x)
    assert rates == [3e-3, 3e-4]


def test_bfloat16_sampling_draws_the_float32_samples_to_its_precision(small_ddpm):
    """Sampling under bfloat16 autocast follows the float32 sampler's paths (the same noise draws): pixels differ
    by bfloat16's rounding carried along 20 steps, not by a different sample."""
    import copy

    fast = copy.copy(small_ddpm)
    fast.sample_bfloat16 = True
    exact, rounded = (m.sample(200, np.random.default_rng(5)) for m in (small_ddpm, fast))
    assert rounded.dtype == np.float32 and np.median(np.abs(exact - rounded)) < 0.02
    assert np.abs(exact.mean() - rounded.mean()) < 0.01


def test_ddpm_samples_are_images_determined_by_the_rng(small_ddpm):
    first = small_ddpm.sample(6, np.random.default_rng(3))
    assert first.shape == (6, 1, 14, 14) and first.dtype == np.float32 and np.abs(first).max() <= 1
    np.testing.assert_array_equal(first, small_ddpm.sample(6, np.random.default_rng(3)))
    np.testing.assert_array_equal(first, pickle.loads(pickle.dumps(small_ddpm)).sample(6, np.random.default_rng(3)))
    assert small_ddpm.losses[-1] < small_ddpm.losses[0]  # it learns
    with pytest.raises(ValueError, match=r"\(n, 1, r, r\)"):
        DDPM().fit(np.zeros((4, 14, 14), np.float32))


@pytest.fixture(scope="module")
def features(train_split):
    return images.EndpointFeatures(fashion_mnist.to_model_scale(train_split[0][:6000], 14))


def test_state_dependent_errors_are_observable_and_an_oscillating_time_only_error_is_not(small_ddpm, features):
    """The ablation's mechanics on a trained network, with the generic features every perturbation shares: the
    turned error has the aligned one's energy (a rotation keeps norms), both are observable, and the oscillating
    time-only error is not. Their order (Fig. 2's claim) is an empirical question for the full-mode ledger: on this
    small network the two state-dependent errors read alike."""
    out = images.perturbation_ablation(small_ddpm, [0.1], features, paths=2000, steps=20, seed=0)
    (aligned, random, time_only, _), se = out["eta"][:, 0], out["eta_se"][:, 0]
    np.testing.assert_allclose(out["eps2"][0], out["eps2"][1], rtol=1e-10)
    assert aligned > 3 * se[0] and random > 3 * se[1], (aligned, random, se)
    assert abs(time_only) < 3 * se[2] + 0.02, (time_only, se[2])
    assert np.all(out["eps2"] > 0) and np.all(out["eta_r2"] <= 1)


def test_the_estimator_recovers_the_exact_eta_of_the_gaussian_case(features):
    """At image dimension (196) with the notebook's features and path count, eta_hat is within the tolerance the
    claims state (C-eta-estimator-images) of the exact eta; with the pixels alone a covariance error is invisible.
    (20 sampler steps instead of the notebook's 50, to keep the test short; the full-mode check is in the ledger.)"""
    from collapse.claims.image_recursive_diffusion import TOLERANCE
    from collapse.infra import config

    paths = config.sizes("image_recursive_diffusion", "full")["paths"]
    out = images.estimator_check(14, 1500, features, paths=paths, steps=20, beta=0.3, seed=0)
    generic, pixels = out["eta"][:, 1, 0], out["eta"][:, 1, 1]
    np.testing.assert_array_less(np.abs(generic - out["exact"]), TOLERANCE)
    assert out["exact"][0] - pixels[0] > 0.5  # a quadratic error needs the squares


def test_windowed_statistics_are_path_statistics_of_a_score_wrong_only_inside_the_window(small_ddpm, train_split):
    """WindowedStatistics at cut c is PathStatistics of a learned score equal to the network's at t >= c and to the
    true score below, on the same paths (so the windows need no second set of paths)."""
    from collapse.core.diffusion import PathStatistics

    x = fashion_mnist.to_model_scale(train_split[0][:200], 14)
    true, network, cut = images.training_set_score(x), small_ddpm.score(), 0.3
    windowed = images.WindowedStatistics(network, [0.0, cut])
    whole = PathStatistics(network)
    masked = PathStatistics(lambda y, t: network(y, t) if t >= cut else true(y, t))
    images.ideal_paths(true, 196, small_ddpm.sampler(10), 50, np.random.default_rng(0), (windowed, whole, masked))
    for k, stats in enumerate((whole, masked)):
        np.testing.assert_allclose(windowed.energy[:, k], stats.energy, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(windowed.martingale[:, k], stats.martingale, rtol=1e-12, atol=1e-12)


def test_the_reference_floor_dominates_the_whole_path_and_the_window_rule(small_ddpm, features, train_split):
    """Against the exact score of a training set, the exact score of disjoint real images (another memoriser) is
    further away over the whole path than a trained network; the window rule picks the first cut where the floor
    is a small share of the network's energy, the last one when none is."""
    x = fashion_mnist.to_model_scale(train_split[0][:400], 14)
    cuts = [0.0, 0.03, 0.3, 1.0]
    own = images.ErrorFeatures(features, (small_ddpm.t0,))
    out = images.generation_observability(small_ddpm, x[:200], x[200:], own, cuts, paths=300, steps=20,
                                           rng=np.random.default_rng(0))
    assert out["floor_eps2"][0] > out["eps_star2"][0]
    for form in ("eta", "net_eta"):  # the generic features' reading and the network's own
        assert np.isfinite(out[form]).all() and out[form].shape == (len(cuts),) and np.all(out[f"{form}_r2"] <= 1)
    assert images.choose_cut(cuts, [50.0, 5.0, 0.5, 0.1], [100.0, 40.0, 10.0, 2.0]) == 0.3
    assert images.choose_cut(cuts, [50.0, 5.0, 5.0, 5.0], [1.0, 1.0, 1.0, 1.0]) == 1.0  # none: the last


def test_an_interrupted_chain_resumes_to_the_same_result(tmp_path, train_split, features):
    x, labels = train_split
    small = fashion_mnist.to_model_scale(x[:600], 14)
    classifier = images.train_classifier(small, labels[:600], epochs=1, seed=0)
    observe = dict(disjoint=small[-100:], features=images.ErrorFeatures(features, (1e-3,)), cuts=[0.0, 0.3], paths=40,
                   steps=5)
    chain = dict(alpha=0.5, ddpm=dict(channels=(8, 16), base_epochs=1, epochs=1, batch=64, lr=1e-3, sample_steps=5),
                 space=images.FeatureSpace(classifier, small, dims=4), n=100, generations=3, resolution=14,
                 train_count=600, metric_samples=100, grid=2, seed=0, observe=observe)
    whole, _ = images.run_chain(checkpoints=Checkpoints(tmp_path / "whole"), **chain)
    part = Checkpoints(tmp_path / "part")
    images.run_chain(checkpoints=part, **{**chain, "generations": 2})  # stopped after two generations
    resumed, _ = images.run_chain(checkpoints=part, **chain)
    _, first = images.run_chain(**{**chain, "generations": 1})  # a shared generation 0, continued
    continued, _ = images.run_chain(start=first, **chain)
    unobserved, _ = images.run_chain(**{**chain, "observe": None})  # observing leaves the chain's data as they were
    for key in whole:
        np.testing.assert_array_equal(whole[key], resumed[key], err_msg=key)
        np.testing.assert_array_equal(whole[key], continued[key], err_msg=key)
    for key in unobserved:
        np.testing.assert_array_equal(whole[key], unobserved[key], err_msg=key)
    assert whole["eps_star2"].shape == (3, 2)


def test_the_committed_result_has_the_control_and_seeds():
    """The drift is compared with an alpha = 1 control over as many seeds as the pilot's power calculation asks for
    the comparisons it chases (at most 10 seeds each), and eta_hat is read over the calibrated window."""
    import xarray as xr

    from collapse.claims.image_recursive_diffusion import seed_count, seeds_needed
    from collapse.infra import config

    result = xr.open_dataset(config.ROOT / "data/results/image_recursive_diffusion/compute.nc")
    assert 1.0 in result.alpha.values and result.sizes["seed"] >= seed_count(seeds_needed())
    assert config.sizes("image_recursive_diffusion", "full")["seeds"] == seed_count(seeds_needed())
    assert np.isfinite(result.kl.sel(alpha=1.0)).all()
    zero = result.isel(generation=0, alpha=0)  # the stored window follows the rule from the stored calibration
    assert float(result.t_cut) == images.choose_cut(result.cut.values, zero.floor_eps2.values, zero.eps_star2.values)


def test_paper_mode_trains_and_samples_for_a_few_steps_on_the_cpu(train_split):
    """The paper path (28 x 28, the paper's U-Net widths, learning rate and schedule) for one optimisation step and
    three sampling steps, so that the configuration a GPU run would use cannot rot unnoticed."""
    from collapse.infra import config
    from collapse.infra.config import notebook_defaults

    sizes = config.sizes("image_recursive_diffusion", "paper")
    training = config.training("image_recursive_diffusion", "paper")
    p = notebook_defaults("image_recursive_diffusion")
    x = fashion_mnist.to_model_scale(train_split[0][: training["batch"]], sizes["resolution"])
    model = DDPM(**{**images.ddpm_arguments(training, sizes, **{k: p[k] for k in (
        "dropout", "weight_decay", "ema", "T", "t0")}), "base_epochs": 1, "sample_steps": 3}).fit(x)
    samples = model.sample(2, np.random.default_rng(0))
    assert sizes["resolution"] == 28 and samples.shape == (2, 1, 28, 28)
    assert np.isfinite(model.losses).all() and np.abs(samples).max() <= 1


def test_the_oracle_ablation_runs_on_the_ablations_own_paths(small_ddpm, features):
    """The oracle ablation re-creates the ablation's paths (same seeds), so its generic-feature eta_hat equals the
    ablation's; adding the aligned error's first-order log-likelihood ratio as a feature cannot lower the aligned
    arm's fit by more than noise."""
    from collapse.core.recursion import RecursionState

    start = RecursionState(generation=1, original=np.zeros((1, 1, 14, 14)), learner=small_ddpm)
    plain = images.perturbation_ablation(small_ddpm, [0.1], features, paths=600, steps=10, seed=0)
    own = images.ErrorFeatures(features, (small_ddpm.t0,))
    oracle = images.oracle_ablation(start, [0.1], own, paths=600, steps=10, seed=0)
    np.testing.assert_allclose(oracle["eta"][:, 0, 0], plain["eta"][:2, 0], rtol=1e-10)
    assert oracle["eta"][0, 0, 2] > oracle["eta"][0, 0, 0] - 2 * oracle["eta_se"][0, 0, 0]


def test_the_models_own_error_features_see_an_error_the_generic_ones_miss():
    """A covariance error coupling pairs of principal directions (estimator_range's ``products``): E[M | Y] is a sum
    of products of coordinates, which the generic z, z^2 cannot hold (eta_hat about 0) and y . e can; with least
    squares, eta_hat is then within 3 standard errors plus 0.05 of the exact eta, here as for the aligned covariance
    error (8 dimensions; the notebook validates the 196-dimensional case on its own paths)."""
    from sklearn.linear_model import LinearRegression

    from collapse.core.diffusion import PathStatistics, reverse_sde
    from collapse.core.observability import held_out_predictions, observability_forms
    from collapse.studies import estimator_range
    from collapse.studies.single_generation import GaussianTestbed

    d, rng = 8, np.random.default_rng(0)
    q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    cov = q @ np.diag(np.linspace(0.2, 2.0, d)) @ q.T
    bed = GaussianTestbed(np.zeros(d), cov, SamplerConfig(T=4.0, t0=0.02, steps=50))
    generic = images.EndpointFeatures(rng.multivariate_normal(np.zeros(d), cov, 5000))
    own = images.ErrorFeatures(generic, (bed.config.t0,))
    for case in ("covariance", "products"):
        name, paths = estimator_range.add_case(bed, case), np.random.default_rng(1)
        learned = bed.learned_score(name, 0.3)
        stats = PathStatistics(learned)
        y = reverse_sde(bed.score(), paths.standard_normal((2000, d)), paths, bed.config, (stats,))
        found = {key: observability_forms(stats.martingale, held_out_predictions(
            stats.martingale, x, LinearRegression()), stats.energy) for key, x in (
            ("generic", generic(y)), ("own", own(y, learned, bed.score())))}
        exact = bed.eta(name)
        assert abs(found["own"]["eta"] - exact) < 3 * found["own"]["eta_se"] + 0.05, (case, found, exact)
        if case == "products":
            assert exact > 0.5 and abs(found["generic"]["eta"]) < 0.05


def test_the_first_order_check_reads_eta_eps2_where_chi2_is_exact():
    """On an 8-dimensional Gaussian with notebook 01's aligned covariance error at beta = 0.1, where chi^2 and eta are
    exact: the perturbed sampler's shift of the fitted regression h reads -eta eps_star^2 (first order), and
    its lower bound on chi^2 stays below the exact chi^2 (within 3 standard errors plus 10 % for the second order)."""
    import torch

    from collapse.core.diffusion import PathStatistics
    from collapse.studies import estimator_range
    from collapse.studies.single_generation import GaussianTestbed

    d, rng, beta = 8, np.random.default_rng(0), 0.1
    q = np.linalg.qr(rng.standard_normal((d, d)))[0]
    cov = q @ np.diag(np.linspace(0.2, 2.0, d)) @ q.T
    bed = GaussianTestbed(np.zeros(d), cov, SamplerConfig(T=4.0, t0=0.02, steps=50))
    name = estimator_range.add_case(bed, "covariance")

    def on_tensors(score):
        return lambda y, t: torch.from_numpy(score(y.numpy(), t))

    class Driving:  # the driving score and the perturbation, as collapse.studies.images.Perturbations offers them
        __call__ = staticmethod(on_tensors(bed.score()))
        learned = staticmethod(lambda kind, beta: on_tensors(bed.learned_score(name, beta)))

    driving = Driving()
    stats = PathStatistics(driving.learned("aligned", beta))
    ideal = images.ideal_paths(driving, d, bed.config, 4000, np.random.default_rng(1), (stats,))
    features = images.ErrorFeatures(images.EndpointFeatures(rng.multivariate_normal(np.zeros(d), cov, 5000)),
                                    (bed.config.t0,))
    found = images.first_order_check(bed.config, driving, "aligned", beta, stats, ideal, features, 1,
                                     np.random.default_rng(2))  # the perturbed paths share the ideal noise
    first_order = bed.eta(name) * beta**2  # the covariance error has unit energy
    chi2 = bed.exact(name, beta)["chi2"]
    # M_T = -int e . dB, so the paths' likelihood ratio is exp(-M_T - <M>_T / 2): the shift is -E_P[h M_T]
    assert abs(-found["shift"] - first_order) < 3 * found["shift_se"] + 0.1 * first_order, (found, first_order)
    assert abs(found["eta_eps2"] - first_order) < 3 * found["eta_eps2_se"] + 0.1 * first_order, (found, first_order)
    assert 0 < found["chi2_low"] <= chi2, (found, chi2)  # a lower bound, taken at the shift's lower limit
    assert found["shift_se"] < 0.1 * first_order  # common random numbers: a paired difference, not two samples
