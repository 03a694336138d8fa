"""Bad input gets a clear error naming the parameter and what is allowed."""

import pytest
import torch

import landau_nb as ln

F64 = torch.float64
X = torch.randn(10, 3, dtype=F64)
S = torch.randn(10, 3, dtype=F64)
NAN_X = X.clone()
NAN_X[2, 1] = float("nan")
P = ln.anisotropic_gaussian(3)

CASES = [
    # (callable, exception, message fragment)
    (lambda: ln.landau_velocity(X, S, gamma=-5), ValueError, r"gamma=-5 is out of range; allowed range \[-4, 1\]"),
    (lambda: ln.landau_velocity(X, S, gamma=1.5), ValueError, "gamma=1.5"),
    (lambda: ln.landau_velocity(X, S, gamma=float("nan")), ValueError, "gamma=nan must be finite"),
    (lambda: ln.landau_velocity(X, S, gamma="0"), TypeError, "gamma must be a real number"),
    (lambda: ln.landau_velocity(X, S, gamma=0, B=0), ValueError, r"B=0 is out of range; allowed range \(0"),
    (lambda: ln.landau_velocity(X, S, gamma=0, B=-1), ValueError, "B=-1"),
    (lambda: ln.landau_velocity(X, S, gamma=-3, method="moments"), ValueError, "method='moments' needs gamma=0"),
    (lambda: ln.landau_velocity(X, S, gamma=0, method="fmm"), ValueError, "method='fmm' is not known; allowed"),
    (lambda: ln.landau_velocity(X[:, :1], S[:, :1], gamma=0), ValueError, "dimension d=1; need d >= 2"),
    (lambda: ln.landau_velocity(X[:1], S[:1], gamma=0), ValueError, "n=1 points; need n >= 2"),
    (lambda: ln.landau_velocity(X, S[:5], gamma=0), ValueError, r"s has shape \(5, 3\); it must match x"),
    (lambda: ln.landau_velocity(X, S.float(), gamma=0), TypeError, "s has dtype torch.float32 but x has torch.float64"),
    (lambda: ln.landau_velocity(X.long(), S, gamma=0), TypeError, "x has dtype torch.int64"),
    (lambda: ln.landau_velocity(X.numpy(), S, gamma=0), TypeError, "x must be a torch.Tensor"),
    (lambda: ln.landau_velocity(X[0], S[0], gamma=0), ValueError, r"x must have shape \(n, d\)"),
    (lambda: ln.landau_velocity(NAN_X, S, gamma=0), ValueError, "x has non-finite entries"),
    (lambda: ln.landau_velocity(X, NAN_X, gamma=0), ValueError, "s has non-finite entries"),
    (lambda: ln.landau_velocity(X, S, gamma=0, tile=0), ValueError, "tile=0"),
    (lambda: ln.bkw(1), ValueError, "d=1 is out of range"),
    (lambda: ln.bkw(2.5), TypeError, "d must be an integer"),
    (lambda: ln.bkw(3, dt=0), ValueError, "dt=0"),
    (lambda: ln.bkw(3, t0=1.0), ValueError, "t0=1 must exceed t0"),
    (lambda: ln.bkw(3, t_end=5.0), ValueError, "t_end=5 must be greater than t0=5.5"),
    (lambda: ln.anisotropic_gaussian(3, gamma=-4.5), ValueError, "gamma=-4.5"),
    (lambda: ln.anisotropic_gaussian(3, variances=[1, 2]), ValueError, "variances has 2 entries; need d=3"),
    (lambda: ln.anisotropic_gaussian(3, variances=[1, -2, 1]), ValueError, "variances"),
    (lambda: ln.heat(2, D=-1), ValueError, "D=-1"),
    (lambda: P.sample(1), ValueError, "n=1 is out of range"),
    (lambda: ln.solve(P, "sbtm"), ValueError, "give the number of particles n"),
    (lambda: ln.solve(P, "sbtm", n=1), ValueError, "n=1"),
    (lambda: ln.solve(P, "magic", n=10), ValueError, "method='magic' is not known; allowed: 'sbtm', 'blob', 'exact'"),
    (lambda: ln.solve(P, "sbtm", n=10, stepper="rk4"), ValueError, "stepper='rk4'"),
    (lambda: ln.solve(P, "sbtm", n=10, dt=-0.1), ValueError, "dt=-0.1"),
    (lambda: ln.solve(P, "sbtm", n=10, dt=0.3), ValueError, "dt=0.3 must divide"),
    (lambda: ln.solve(P, "sbtm", n=10, t_end=-1), ValueError, "t_end=-1 must be greater than t0=0"),
    (lambda: ln.solve(P, "sbtm", n=10, dtype=torch.int32), ValueError, "dtype=torch.int32 is not supported"),
    (lambda: ln.solve(P, "sbtm", n=10, device="tpu"), ValueError, "device="),
    (lambda: ln.solve(P, "sbtm", n=10, seed=-1), ValueError, "seed=-1"),
    (lambda: ln.solve(P, "sbtm", n=10, lr=0), ValueError, "lr=0"),
    (lambda: ln.solve(P, "sbtm", n=10, alpha=-0.4), ValueError, "alpha=-0.4"),
    (lambda: ln.solve(P, "sbtm", n=10, width=0), ValueError, "width=0"),
    (lambda: ln.solve(P, "sbtm", n=10, K=2.5), TypeError, "K must be an integer"),
    (lambda: ln.solve(P, "sbtm", n=10, loss="l1"), ValueError, "loss='l1' is not known"),
    (lambda: ln.solve(P, "sbtm", n=10, learning_rate=1e-3), TypeError, "bad option for method='sbtm'"),
    (lambda: ln.solve(P, "blob", n=10, bandwidth="silverman"), ValueError, "bandwidth='silverman'"),
    (lambda: ln.solve(P, "blob", n=10, bandwidth=0.0), ValueError, "bandwidth=0"),
    (lambda: ln.solve(P, "blob", x0=NAN_X), ValueError, "x0 has non-finite entries"),
    (lambda: ln.solve(P, "blob", x0=X[:, :2]), ValueError, "x0 has dimension 2 but the problem has d=3"),
    (lambda: ln.solve(P, "blob", x0=X, n=11), ValueError, "n=11 disagrees with x0"),
    (lambda: ln.solve("bkw", "blob", n=10), TypeError, "problem must be a landau_nb Problem"),
    (lambda: ln.get_problem("vlasov"), ValueError, "problem='vlasov' is not known"),
    (lambda: ln.blob_score(X, 0.0), ValueError, "eps=0"),
    (lambda: ln.blob_bandwidth(X, "scott"), ValueError, "bandwidth='scott'"),
    (lambda: ln.relative_score_error(S[:4], S), ValueError, "s_values has shape"),
    (lambda: ln.seed_everything(0, threads=0), ValueError, "threads=0"),
    (lambda: ln.solve(P, "blob", n=10, velocity_method="random_batch"), ValueError, "needs batch_size"),
    (lambda: ln.solve(P, "blob", n=10, velocity_method="random_batch", batch_size=1), ValueError, "batch_size=1"),
    (lambda: ln.solve(P, "blob", n=10, batch_size=10), ValueError, "batch_size is used by velocity_method='random_batch' only"),
    # flags are booleans, not truthy strings; options that a problem cannot use are refused
    (lambda: ln.Blob(fixed="False"), TypeError, "fixed must be True or False, got 'False'"),
    (lambda: ln.Blob(one_term=1), TypeError, "one_term must be True or False, got 1"),
    (lambda: ln.SBTM(adaptive="no"), TypeError, "adaptive must be True or False, got 'no'"),
    (lambda: ln.SBTM(record_losses="yes"), TypeError, "record_losses must be True or False or 'all', got 'yes'"),
    (lambda: ln.solve(P, "blob", n=10, resume="no"), TypeError, "resume must be True or False, got 'no'"),
    (lambda: ln.solve(P, "blob", n=10, kde_l2="yes"), TypeError, "kde_l2 must be True or False"),
    (lambda: ln.solve(P, "blob", n=10, track_log_density=None), TypeError, "track_log_density must be True or False"),
    (lambda: ln.solve(ln.heat(2), "exact", n=10, velocity_method="direct"), ValueError,
     "velocity_method='direct' chooses how the Landau pair sum is evaluated; the heat problem"),
    (lambda: ln.solve(ln.fokker_planck(2), "exact", n=10, velocity_method="random_batch", batch_size=4),
     ValueError, "velocity_method='random_batch' chooses how the Landau pair sum"),
    (lambda: ln.solve(ln.heat(2), "exact", n=10, batch_size=4), ValueError, "batch_size=4 chooses how the Landau"),
    # degenerate samples: the blob bandwidth rules need a full-rank sample covariance
    (lambda: ln.blob_bandwidth(X[:3]), ValueError, r"bandwidth='paper' needs n > d particles, got n=3 in d=3"),
    (lambda: ln.blob_bandwidth(torch.cat([X[:, :2], torch.zeros(10, 1, dtype=F64)], 1), "reference"),
     ValueError, "bandwidth='reference' needs a sample covariance of full rank, but x has a zero-variance direction"),
    (lambda: ln.solve(P, "blob", n=3), ValueError, "needs n > d particles, got n=3 in d=3"),
    # checkpoints and experiments
    (lambda: ln.solve(P, "blob", n=10, checkpoint="/tmp/x", checkpoint_every=0), ValueError, "checkpoint_every=0"),
    (lambda: ln.run_experiment("bkw7"), ValueError, "experiment='bkw7' is not known"),
    (lambda: ln.run_experiment("bkw", "huge"), ValueError, "scale='huge' is not known"),
    (lambda: ln.run_experiment("bkw", labels=["mlp"]), ValueError, "solver='mlp' is not known"),
    (lambda: ln.run_experiment("bkw", workers=1.5), TypeError, "workers must be an integer"),
    (lambda: ln.run_experiment("bkw", checkpoint_every=-1), ValueError, "checkpoint_every=-1"),
    (lambda: ln.experiments.parse_seeds("0-x"), ValueError, "seeds='0-x'"),
    (lambda: ln.Results.load("/tmp", "nope"), ValueError, "experiment='nope'"),
]


@pytest.mark.parametrize("call,exc,fragment", CASES, ids=[c[2][:40] for c in CASES])
def test_bad_input_is_rejected_clearly(call, exc, fragment):
    with pytest.raises(exc, match=fragment):
        call()


def test_table_is_large_enough():
    assert len(CASES) >= 30
