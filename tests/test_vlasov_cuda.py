"""The Vlasov–Landau solver on a GPU: the torch kernels on CUDA against the CPU (CUDA tests skip
without a device), and the block size of the neighbour sums (CPU)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import landau_nb.vlasov as vl
from landau_nb.vlasov.collisions import collision_velocity
from landau_nb.vlasov.field import PeriodicMesh
from landau_nb.vlasov.scores import spatial_blob_score
from landau_nb.vlasov.spatial import CellList, SpatialWeight

F64 = torch.float64
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _state(n=1500, dv=3, L=4 * np.pi, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, generator=g, dtype=F64) * L
    v = torch.randn(n, dv, generator=g, dtype=F64)
    s = -v + 0.3 * torch.randn(n, dv, generator=g, dtype=F64)
    w = torch.full((n,), L / n, dtype=F64)
    return x, v, s, w


def test_neighbour_sums_do_not_depend_on_the_block_budget(monkeypatch):
    """The GPU's default block budget (2^26 elements) and a tiny one give the CPU default's sums."""
    x, v, s, w = _state()
    weight = SpatialWeight("hat", 4 * np.pi, 8)
    ref_u = collision_velocity(x, v, s, w, weight=weight, gamma=-3.0, B=1.0, method="direct")
    ref_s = spatial_blob_score(x, v, w, weight=weight, eps=0.2, method="direct")
    orig = CellList.blocks
    for budget in (2**26, 1000):
        monkeypatch.setattr(CellList, "blocks", lambda self, width, budget=budget: orig(self, width, budget))
        u = collision_velocity(x, v, s, w, weight=weight, gamma=-3.0, B=1.0, method="direct")
        sc = spatial_blob_score(x, v, w, weight=weight, eps=0.2, method="direct")
        torch.testing.assert_close(u, ref_u, rtol=1e-12, atol=1e-13 * float(ref_u.abs().max()))
        torch.testing.assert_close(sc, ref_s, rtol=1e-12, atol=1e-13 * float(ref_s.abs().max()))
    monkeypatch.undo()
    with pytest.raises(ValueError, match="budget"):
        next(CellList(weight, x).blocks(3, budget=0))


@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("kind", ["cell", "hat", "cic"])
@pytest.mark.parametrize("gamma", [0.0, -3.0])
def test_cuda_collision_sum_matches_the_cpu(kind, gamma):
    x, v, s, w = _state()
    weight = SpatialWeight(kind, 4 * np.pi, 8)
    cpu = collision_velocity(x, v, s, w, weight=weight, gamma=gamma, B=0.7, method="direct")  # torch, no JIT
    dev = [t.cuda() for t in (x, v, s, w)]
    gpu = collision_velocity(*dev, weight=weight, gamma=gamma, B=0.7)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=1e-12 * float(cpu.abs().max()))
    # the conservation laws hold on the GPU too
    assert float((w.cuda()[:, None] * gpu).sum(0).abs().max()) < 1e-12 * float(gpu.abs().sum())
    assert abs(float((w.cuda()[:, None] * gpu * dev[1]).sum())) < 1e-12 * float((gpu * dev[1]).abs().sum())


@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("two_term", [True, False])
def test_cuda_blob_score_matches_the_cpu(two_term):
    x, v, _, w = _state()
    weight = SpatialWeight("cell", 4 * np.pi, 8)
    cpu = spatial_blob_score(x, v, w, weight=weight, eps=0.2, two_term=two_term, method="direct")
    gpu = spatial_blob_score(x.cuda(), v.cuda(), w.cuda(), weight=weight, eps=0.2, two_term=two_term)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-10, atol=1e-12 * float(cpu.abs().max()))


@needs_cuda
@pytest.mark.cuda
def test_cuda_field_solve_matches_the_cpu():
    x, _, _, w = _state(n=4000)
    mesh_c, mesh_g = PeriodicMesh(4 * np.pi, 32), PeriodicMesh(4 * np.pi, 32, device="cuda")
    Ec, Eg = mesh_c.field(x, w), mesh_g.field(x.cuda(), w.cuda())
    for a, b in zip(Ec if isinstance(Ec, tuple) else (Ec,), Eg if isinstance(Eg, tuple) else (Eg,)):
        torch.testing.assert_close(b.cpu(), a, rtol=1e-12, atol=1e-13)


@needs_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("score", ["blob", "kde", "maxwellian", "gaussian"])
def test_cuda_run_follows_the_cpu_run(score):
    """A collisional 1D-3V damping run, float64: CUDA and CPU agree to round-off growth."""
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.4, gamma=-3.0)
    opts = {"method": "direct"} if score in ("blob", "kde") else {}        # the torch kernels on both
    kw = dict(n=2000, M=16, dt=0.05, t_end=0.5, score=score, score_options=opts, collision_method="direct", seed=1)
    a = vl.solve_vlasov(model, **kw)
    b = vl.solve_vlasov(model, device="cuda", **kw)
    assert b.meta["settings"]["device"] == "cuda"
    np.testing.assert_allclose(b.final["v"], a.final["v"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(b["field_energy"], a["field_energy"], rtol=1e-9)


@needs_cuda
@pytest.mark.cuda
def test_cuda_sbtm_run_float32_conserves_and_stays_finite():
    """SBTM on the GPU (its noise and batches come from the GPU's generator, so not the CPU's
    numbers): finite, momentum conserved, energy ledger closed to float32 round-off."""
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.4, gamma=-3.0)
    tr = vl.solve_vlasov(model, n=4000, M=16, dt=0.05, t_end=0.5, score="sbtm", seed=0,
                         dtype=torch.float32, device="cuda")
    assert np.isfinite(tr.final["v"]).all() and tr.meta["settings"]["device"] == "cuda"
    assert tr.momentum_drift() < 1e-4
    assert np.isfinite(tr["score_error"][-1])


def test_gpu_and_slices_benchmark_sections_smoke_on_the_cpu(tmp_path):
    """Not a measurement: benchmarks/vlasov.py's gpu section (CPU smoke mode, tiny n) and the
    slices before/after run end to end, store every part and agree to round-off."""
    import json
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import vlasov as bench
    out = tmp_path / "v.json"
    bench.main(["--only", "gpu", "slices", "--device", "cpu", "--n-large", "3000", "--gpu-M", "4",
                "--gpu-t", "0.1", "--n-medium", "3000", "--M", "8", "--out", str(out)])
    rec = json.loads(out.read_text())
    g = rec["gpu"]
    assert g["evaluation"]["finite"] and g["evaluation"]["relative_momentum_sum"] < 1e-6      # float32
    assert {"blob", "sbtm", "ratios_sbtm_over_blob"} <= set(g) and g["sbtm"]["steps"] == 2
    for key in ("blob_score", "collision"):
        assert rec["slices"][key]["rel_difference"] < 1e-12 and rec["slices"][key]["after_s"] > 0
