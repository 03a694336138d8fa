"""The GPU path (CUDA tests skip without a device) and the GPU check script's smoke mode."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import landau_nb as ln

F64 = torch.float64
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
SBTM_KW = dict(init_tol=1e-2, init_lr=1e-2)


@needs_cuda
@pytest.mark.cuda
def test_captured_cuda_step_matches_the_cpu_kernel():
    # The CUDA-graph step and the numba kernel compute the same sums in another order:
    # float64 agreement to ~1e-12 after 10 Adam steps of 3 members (replayed twice: the
    # graph is recorded once and reused).
    from landau_nb.scores import _sbtm_numba as kern
    from landau_nb.scores._sbtm_torch import CapturedSteps
    S, n, d, w, steps = 3, 300, 3, 100, 10
    g = ln.make_generator(0, "test")
    x = torch.randn(S, n, d, generator=g, dtype=F64)
    z = torch.randn(S, steps, n, d, generator=g, dtype=F64)
    theta = 0.3 * torch.randn(S, kern.n_params(d, w), generator=g, dtype=F64)
    est = ln.SBTM()
    consts = est.kernel_constants(n, np.float64)
    adam = np.stack([est.adam_constants(0, steps)] * S)
    th, m1, m2 = theta.clone(), torch.zeros_like(theta), torch.zeros_like(theta)
    losses = np.empty((S, steps))
    kern.adam_denoising(x.numpy(), z.numpy(), th.numpy(), m1.numpy(), m2.numpy(), consts, adam, losses, d, w)
    cap = CapturedSteps(consts, d, w)
    dev = torch.device("cuda")
    thc, m1c, m2c = theta.to(dev), torch.zeros_like(theta, device=dev), torch.zeros_like(theta, device=dev)
    lc = torch.empty(S, steps, dtype=F64, device=dev)
    half = steps // 2
    for sl in (slice(0, half), slice(half, steps)):
        cap.run(x.to(dev), z[:, sl].to(dev), thc, m1c, m2c, torch.as_tensor(adam[:, sl], device=dev), lc[:, sl])
    for a, b in ((th, thc), (m1, m1c), (m2, m2c)):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lc.cpu().numpy(), losses, rtol=1e-10)


@needs_cuda
@pytest.mark.cuda
def test_cuda_ensemble_members_match_single_cuda_runs():
    p = ln.anisotropic_gaussian(3)
    kw = dict(n=200, t_end=10 * p.dt, device="cuda", backend="fused", **SBTM_KW)
    members = ln.solve_ensemble(p, "sbtm", seeds=[0, 1, 2], **kw)
    for seed, m in zip([0, 1, 2], members):
        single = ln.solve(p, "sbtm", seed=seed, **kw)
        np.testing.assert_allclose(m.x[-1], single.x[-1], rtol=1e-9, atol=1e-10)


@needs_cuda
@pytest.mark.cuda
def test_cuda_fused_run_follows_the_torch_reference():
    p = ln.anisotropic_gaussian(3)
    kw = dict(n=200, seed=0, t_end=5 * p.dt, device="cuda", **SBTM_KW)
    a = ln.solve(p, "sbtm", backend="torch", **kw)
    b = ln.solve(p, "sbtm", backend="fused", **kw)
    np.testing.assert_allclose(b.x[-1], a.x[-1], rtol=1e-9, atol=1e-10)


def test_gpu_check_smoke_mode_on_the_cpu(tmp_path):
    # Not a GPU measurement: checks that benchmarks/gpu_check.py runs end to end and writes
    # every section (tiny sizes, CPU, a few seconds).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import gpu_check
    out = tmp_path / "gpu.json"
    rc = gpu_check.main(["--device", "cpu", "--quick", "--budget", "300", "--out", str(out)])
    rec = json.loads(out.read_text())
    assert rc == 0, {k: v for k, v in rec.items() if isinstance(v, dict) and "error" in v}
    assert rec["meta"]["gpu"] is False and rec["cuda_tests"]["skipped"]
    assert set(rec["sbtm_step"]["fused"]) == {"100", "400"} and rec["sbtm_step"]["fused"]["100"] > 0
    assert rec["ensemble"]["100"]["speedup"] > 0
    quick = [r for r in ln.get_experiment("anisotropic_d3").runs("paper") if r.n <= 200 and r.seed <= 1]
    assert rec["experiment"]["complete"] and rec["experiment"]["runs_done"] == len(quick)
    assert {g["label"] for g in rec["experiment"]["groups"]} == {r.label for r in quick}
    assert rec["pair_sums"]["velocity_coulomb"]["200"]["pairs_per_s"] > 0
