"""Validation and speed of the Vlasov–Landau particle solver (landau_nb.vlasov).

Each section prints its measured numbers next to the target and writes them to
``benchmarks/results/vlasov.json`` (sections run earlier are kept). Run niced on a shared
machine, e.g.::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/vlasov.py --only poisson landau_01 landau_001 two_stream
    python benchmarks/vlasov.py --only energy_drift pairs collisional --threads 2

Sections (targets from the facts note, shared/notes/vlasov-landau-facts.md, and issue 24):

* ``poisson``     quiet ρ = 1 + α cos kx, n = 1e5, M = 64: ‖E − (α/k) sin kx‖/‖·‖ < 1e-3
* ``landau_01``   k = 0.5, α = 0.1, n = 1e5 quiet, M = 64, dt = 0.05: rate on (0.2, 15) within
                  2 % of the continuum −0.1700
* ``landau_001``  α = 0.01, n = 1e6: rate within 1 % of −0.1546, ω (zero crossings of the
                  k-mode) within 0.5 % of 1.4157
* ``two_stream``  k = 0.2, v0 = 2.4, α = 1/200, n = 1e6: growth on (12, 24) within 3 % of 0.2258,
                  max ‖E‖ within 5 % of 2.730 at t ≈ 28.3
* ``energy_drift`` collisionless, n = 1e5, t = 40: drift/FE(0) at dt = 0.1, 0.05, 0.025 (< 2e-3 at
                  dt = 0.05; ratios 4 for ∝ dt²)
* ``pairs``       pairs/s of the spatial collision sum (cell/hat/cic; compiled, torch) and of the
                  homogeneous ``landau_velocity`` at equal pair counts
* ``collisional`` 1D-3V Landau damping with collisions, n = 1e5, M = 64, dt = 0.05: seconds per
                  phase over ``--collisional-t`` (default 1, i.e. 20 steps) and the extrapolation
                  to t = 15 (targets: < 10 min blob, < 15 min SBTM on 2 cores)
* ``scaling``     seconds per step of each phase (push, field, score, collision) for the blob and
                  SBTM scores at n = 2e4, 8e4, 3.2e5 (1D-3V Coulomb, B = 0.4, M = 64, cell weight,
                  the paper-scale damping-curve settings; ``--scaling-t`` of run each), the fitted
                  exponent of each phase in n, and the extrapolated hours of a whole run (t = 15)
                  at n = 1e6 and the largest n a run of ``--budget-hours`` allows (issue 26, item 5)
* ``gpu``         on ``--device`` (a GPU; ``--device cpu`` with small ``--n-large`` is a smoke
                  mode): one collision evaluation at n = ``--n-large`` (1e6), float32, dv = 3,
                  γ = −3, ``--gpu-M`` (128) cells of the cell weight (cell list, blob score,
                  collision sum: target ≤ 1.5 s), then the blob and SBTM damping runs (B = 0.4)
                  over ``--gpu-t`` with the time per phase, the peak memory, the run time
                  extrapolated to t = 15 (SBTM target ≤ 15 min) and the SBTM/blob ratios
                  (issue 26, item 5)
* ``slices``      the compiled cell-weight kernels (blob score, collision sum, n = 1e5, 64 cells)
                  against copies of their earlier loop form, which indexed the whole columns
                  from j0 to j1 instead of looping over the partner cell's slices (the form
                  that vectorises), timed in one run
* ``cell_kernels`` the cell weight's blob score and collision sum at n = 1e5, 64 cells: the
                  default kernels (before) against the opt-in kernels visiting each pair once
                  (after), timed in one run, and the collisional run time projected from them
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import landau_nb.vlasov as vl  # noqa: E402
from landau_nb.vlasov import reference as ref  # noqa: E402
from landau_nb.vlasov._deps import landau_velocity  # noqa: E402
from landau_nb.vlasov.collisions import collision_velocity  # noqa: E402
from landau_nb.vlasov.scores import blob_bandwidth  # noqa: E402
from landau_nb.vlasov.spatial import CellList, SpatialWeight  # noqa: E402
from landau_nb.vlasov.stepping import _clock  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "vlasov.json"
SECTIONS = ("poisson", "landau_01", "landau_001", "two_stream", "energy_drift", "pairs", "collisional",
            "scaling", "cell_kernels", "gpu", "slices")


def say(*a):
    print(*a, flush=True)


def ratio(measured, target):
    return measured / target - 1


def poisson(args):
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3)
    p = vl.sample_particles(model, 100_000, seed=0)
    mesh = vl.PeriodicMesh(model.L, 64)
    _, E, Ep = mesh.field(p.x, p.w)
    exact = 0.2 * torch.sin(0.5 * mesh.nodes)
    err = float((E - exact).norm() / exact.norm())
    say(f"poisson: relative error {err:.3e} (target < 1e-3); net force {float((p.w * Ep).sum()):.1e}")
    return {"relative_error": err, "target": 1e-3, "pass": err < 1e-3}


def _landau_run(alpha, n, args, window=(0.2, 15.0)):
    model = vl.landau_damping(alpha=alpha, k=0.5, dv=3)
    t0 = time.perf_counter()
    tr = vl.solve_vlasov(model, n=n, M=args.M, dt=0.05, t_end=15.0, seed=args.seed)
    wall = time.perf_counter() - t0
    rate = tr.damping_rate(window)
    omega = tr.frequency(window)
    cont = ref.reference_curve(alpha=alpha, rate_window=window, omega_window=window)
    return tr, wall, rate, omega, cont


def landau_01(args):
    tr, wall, rate, omega, cont = _landau_run(0.1, args.n_medium, args)
    r = rate["rate"]
    say(f"landau_01: n={args.n_medium} M={args.M}: rate {r:.5f} vs -0.1700 ({100 * ratio(r, -0.17):+.2f} %, target 2 %);"
        f" continuum here {cont['rate']['rate']:.5f}; omega {omega['omega']:.5f} (continuum {cont['omega']['omega']:.5f});"
        f" momentum drift {tr.momentum_drift():.1e}; {wall:.1f} s")
    return {"n": args.n_medium, "M": args.M, "dt": 0.05, "window": rate["window"], "rate": r,
            "rate_rel_error": ratio(r, -0.17), "pass": abs(ratio(r, -0.17)) < 0.02, "omega": omega["omega"],
            "continuum_rate": cont["rate"]["rate"], "continuum_omega": cont["omega"]["omega"],
            "peaks_t": rate["t"], "peaks": rate["values"], "momentum_drift": tr.momentum_drift(),
            "energy_drift": tr.energy_drift(), "wall_s": wall, "timing": tr.timing()}


def landau_001(args):
    tr, wall, rate, omega, cont = _landau_run(0.01, args.n_large, args)
    r, w = rate["rate"], omega["omega"]
    say(f"landau_001: n={args.n_large}: rate {r:.5f} vs -0.1546 ({100 * ratio(r, -0.1546):+.2f} %, target 1 %); "
        f"omega {w:.5f} vs 1.4157 ({100 * ratio(w, 1.4157):+.3f} %, target 0.5 %); {wall:.1f} s")
    return {"n": args.n_large, "M": args.M, "dt": 0.05, "window": rate["window"], "rate": r,
            "rate_rel_error": ratio(r, -0.1546), "omega": w, "omega_rel_error": ratio(w, 1.4157),
            "pass": abs(ratio(r, -0.1546)) < 0.01 and abs(ratio(w, 1.4157)) < 0.005,
            "continuum_rate": cont["rate"]["rate"], "continuum_omega": cont["omega"]["omega"],
            "peaks_t": rate["t"], "peaks": rate["values"], "wall_s": wall, "timing": tr.timing()}


def two_stream(args):
    model = vl.two_stream(alpha=1 / 200, k=0.2, v0=2.4, dv=3)
    t0 = time.perf_counter()
    tr = vl.solve_vlasov(model, n=args.n_large, M=args.M, dt=0.05, t_end=32.0, seed=args.seed)
    wall = time.perf_counter() - t0
    g = tr.growth_rate((12.0, 24.0))["rate"]
    i = int(np.argmax(tr["E_norm"]))
    Emax, tmax = float(tr["E_norm"][i]), float(tr.t[i])
    cont = ref.reference_curve(problem="two_stream", alpha=1 / 200, k=0.2, v0=2.4, t_end=32.0, nv=512, nx=64,
                               rate_window=(12.0, 24.0))
    say(f"two_stream: n={args.n_large}: growth {g:.5f} vs 0.2258 ({100 * ratio(g, 0.2258):+.2f} %, target 3 %; "
        f"continuum fit {cont['rate']['rate']:.5f}); max|E| {Emax:.4f} at t={tmax:.2f} vs 2.730 at 28.3 "
        f"({100 * ratio(Emax, 2.730):+.2f} %, target 5 %); {wall:.1f} s")
    return {"n": args.n_large, "M": args.M, "dt": 0.05, "growth": g, "growth_rel_error": ratio(g, 0.2258),
            "E_max": Emax, "t_max": tmax, "E_max_rel_error": ratio(Emax, 2.730),
            "pass": abs(ratio(g, 0.2258)) < 0.03 and abs(ratio(Emax, 2.730)) < 0.05,
            "continuum_growth": cont["rate"]["rate"], "linear_root": ref.two_stream_root(0.2, 2.4)[1],
            "momentum_drift": tr.momentum_drift(), "energy_drift": tr.energy_drift(), "wall_s": wall}


def energy_drift(args):
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3)
    out = {}
    for dt in (0.1, 0.05, 0.025):
        tr = vl.solve_vlasov(model, n=args.n_medium, M=args.M, dt=dt, t_end=40.0, seed=args.seed, record_every=1)
        out[str(dt)] = tr.energy_drift()
        say(f"energy_drift: dt={dt}: max|dE_tot|/FE(0) over t <= 40 = {out[str(dt)]:.3e}")
    r1, r2 = out["0.1"] / out["0.05"], out["0.05"] / out["0.025"]
    say(f"energy_drift: ratios {r1:.2f}, {r2:.2f} (4 for dt^2); at dt=0.05 {out['0.05']:.2e} (target < 2e-3)")
    return {"n": args.n_medium, "M": args.M, "t_end": 40.0, "drift": out, "ratios": [r1, r2],
            "pass": out["0.05"] < 2e-3 and abs(r1 / 4 - 1) < 0.3}


def pairs(args):
    n, C, L = args.n_pairs, 64, 4 * math.pi
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, dtype=torch.float64, generator=g) * L
    v = torch.randn(n, 3, dtype=torch.float64, generator=g)
    s = -v + 0.1 * torch.randn(n, 3, dtype=torch.float64, generator=g)
    w = torch.full((n,), L / n, dtype=torch.float64)
    res = {}

    def best(f, reps=3):
        return best_timed(f, reps)[0]

    for kind in ("cell", "hat", "cic"):
        weight = SpatialWeight(kind, L, C)
        cl = CellList(weight, x)
        npairs = cl.pair_count()
        for method in ("compiled", "direct"):
            sec = best(lambda: collision_velocity(x, v, s, w, weight=weight, gamma=-3.0, B=1.0, method=method,
                                                  cells=cl), reps=2 if method == "direct" else 3)
            res[f"{kind}/{method}"] = {"pairs": npairs, "seconds": sec, "pairs_per_s": npairs / sec}
            say(f"pairs: {kind:4s} {method:8s} n={n} C={C}: {npairs / sec / 1e6:8.1f} Mpairs/s ({sec:.3f} s)")
    m = int(round(math.sqrt(res["hat/compiled"]["pairs"])))
    sec = best(lambda: landau_velocity(v[:m], s[:m], gamma=-3.0, B=1.0, method="compiled"))
    res["homogeneous/compiled"] = {"pairs": m * m, "seconds": sec, "pairs_per_s": m * m / sec}
    sec_t = best(lambda: landau_velocity(v[:m], s[:m], gamma=-3.0, B=1.0, method="direct"), reps=2)
    res["homogeneous/direct"] = {"pairs": m * m, "seconds": sec_t, "pairs_per_s": m * m / sec_t}
    say(f"pairs: homogeneous landau_velocity n={m}: compiled {m * m / sec / 1e6:.1f}, torch "
        f"{m * m / sec_t / 1e6:.1f} Mpairs/s")
    for key in ("cell/compiled", "hat/compiled", "cic/compiled", "hat/direct"):
        res[key]["vs_homogeneous_compiled"] = res[key]["pairs_per_s"] / res["homogeneous/compiled"]["pairs_per_s"]
        say(f"pairs: {key} / homogeneous compiled = {res[key]['vs_homogeneous_compiled']:.2f}")
    return {"n": n, "cells": C, "gamma": -3.0, "threads": torch.get_num_threads(), **res}


def collisional(args):
    out = {}
    t_run = args.collisional_t
    for score, opts in (("blob", {}), ("sbtm", {})):
        model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=args.B, gamma=-3.0)
        t0 = time.perf_counter()
        tr = vl.solve_vlasov(model, n=args.n_medium, M=args.M, dt=0.05, t_end=t_run, score=score, score_options=opts,
                             spatial_weight=args.spatial_weight, record_every=args.record_every, seed=args.seed)
        wall = time.perf_counter() - t0
        steps = int(round(t_run / 0.05))
        tim = tr.timing()
        init = tr.meta["score_init_seconds"]
        per_step = (wall - init) / steps
        extrap = init + per_step * 300
        say(f"collisional {score}: n={args.n_medium} M={args.M} B={args.B} psi={args.spatial_weight} "
            f"record_every={args.record_every}: {wall:.1f} s for t={t_run} ({steps} steps) -> {per_step:.2f} s/step, "
            f"score init {init:.1f} s, ~{extrap / 60:.1f} min for t=15 (target {'10' if score == 'blob' else '15'} min); phases {tim}; "
            f"momentum drift {tr.momentum_drift():.1e}, collision energy {tr['collision_energy'][-1]:.2e}")
        out[score] = {"wall_s": wall, "t_end": t_run, "steps": steps, "seconds_per_step": per_step,
                      "extrapolated_t15_min": extrap / 60, "score_init_s": init, "phases_s": tim, "score": tr.meta["score"],
                      "momentum_drift": tr.momentum_drift(), "collision_energy": float(tr["collision_energy"][-1]),
                      "entropy_production_last": float(tr["entropy_production"][-1])}
    return {"n": args.n_medium, "M": args.M, "B": args.B, "gamma": -3.0, "spatial_weight": args.spatial_weight,
            "record_every": args.record_every, "threads": torch.get_num_threads(), **out}


PHASE_NAMES = ("push", "field", "score", "collision")


def scaling(args):
    """Per-step cost of each phase against n; a whole run's hours extrapolated by the fitted power
    laws (each phase from the two largest n, where the asymptotic order has set in)."""
    ns = [int(x) for x in args.scaling_n]
    steps = int(round(args.scaling_t / 0.05))
    total_steps = 300                                   # t = 15 at dt = 0.05
    out = {}
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.4, gamma=-3.0)
    for score in ("blob", "sbtm"):
        vl.solve_vlasov(model, n=1000, M=args.M, dt=0.05, t_end=0.1, score=score, spatial_weight="cell")  # compile
        rows = []
        for n in ns:
            tr = vl.solve_vlasov(model, n=n, M=args.M, dt=0.05, t_end=args.scaling_t, score=score,
                                 spatial_weight="cell", record_every=steps, seed=args.seed)
            per = {p: float(tr[f"time_{p}"][-1]) / steps for p in PHASE_NAMES}
            rows.append({"n": n, "per_step_s": per, "init_s": float(tr.meta["score_init_seconds"])})
            say(f"scaling {score}: n = {n:7d}: " + ", ".join(f"{p} {v:.3g}" for p, v in per.items())
                + f" s/step; init {rows[-1]['init_s']:.1f} s")
        n1, n2 = rows[-2]["n"], rows[-1]["n"]
        expo = {p: math.log(rows[-1]["per_step_s"][p] / rows[-2]["per_step_s"][p]) / math.log(n2 / n1)
                for p in PHASE_NAMES}

        def hours(n, rows=rows, expo=expo):
            last = rows[-1]
            per = sum(last["per_step_s"][p] * (n / last["n"]) ** expo[p] for p in PHASE_NAMES)
            return (per * total_steps + last["init_s"]) / 3600

        lo, hi = float(ns[0]), 1e8                       # the largest n whose run fits the budget
        for _ in range(60):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if hours(mid) <= args.budget_hours else (lo, mid)
        out[score] = {"rows": rows, "exponent": expo, "run_hours_measured_n": [hours(r["n"]) for r in rows],
                      "run_hours_1e6": hours(1e6), "largest_n_in_budget": lo}
        say(f"scaling {score}: exponents " + ", ".join(f"{p} {e:.2f}" for p, e in expo.items())
            + f"; a whole run (t = 15) at n = 1e6 ~ {hours(1e6):.1f} h on this core; "
            f"the largest n in {args.budget_hours:g} h ~ {lo:.2g}")
    return {"M": args.M, "B": 0.4, "gamma": -3.0, "spatial_weight": "cell", "steps_timed": steps,
            "budget_hours": args.budget_hours, "threads": torch.get_num_threads(), **out}


def best_timed(f, reps=3):
    """(smallest wall time of ``reps`` calls of f after a warm-up call, the last result)."""
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t0)
    return min(ts), out


def cell_kernels(args):
    """Before/after of the cell weight's kernels in one run: the blob score (two-term) and the
    collision sum at n = n_medium, 64 cells, dv = 3, γ = −3, by the default paths (before: the
    neighbour loops for the blob score, the homogeneous group kernel for the collision sum) and
    by the opt-in kernels that visit each unordered pair once (after). A speedup < 1 means the
    pair-once kernels lose (their scatter to row j does not vectorise)."""
    from landau_nb.vlasov import _numba_kernels as kern
    from landau_nb.vlasov.collisions import _compiled
    n, C, L = args.n_medium, args.M, 4 * math.pi
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3)
    p = vl.sample_particles(model, n, seed=args.seed)
    x, v, w = p.x, p.v, p.w
    s = -v
    weight = SpatialWeight("cell", L, C)
    cl = CellList(weight, x)
    eps = 0.44

    res = {}
    tb_old, sb_old = best_timed(lambda: kern.blob_sums(weight, cl, x, v, w, eps, True))
    tb_new, sb_new = best_timed(lambda: kern.cell_blob_sums(weight, cl, v, w, eps, True))
    tc_old, uc_old = best_timed(lambda: _compiled(x, v, s, w, weight, -3.0, 1.0, cl))
    tc_new, uc_new = best_timed(lambda: _compiled(x, v, s, w, weight, -3.0, 1.0, cl, pairs_once=True))
    res["blob_score"] = {"before_s": tb_old, "after_s": tb_new, "speedup": tb_old / tb_new,
                         "rel_difference": float((sb_new - sb_old).norm() / sb_old.norm())}
    res["collision"] = {"before_s": tc_old, "after_s": tc_new, "speedup": tc_old / tc_new,
                        "rel_difference": float((uc_new - uc_old).norm() / uc_old.norm())}
    pairs = cl.pair_count()
    res["pairs"] = pairs
    res["collision"]["pairs_per_s_after"] = pairs / tc_new
    for key in ("blob_score", "collision"):
        say(f"cell_kernels: {key}: before {res[key]['before_s']:.3f} s, after {res[key]['after_s']:.3f} s, "
            f"x{res[key]['speedup']:.2f} (relative difference {res[key]['rel_difference']:.1e})")
    prev = json.loads(OUT.read_text()).get("collisional", {}) if OUT.exists() else {}
    for score in ("blob", "sbtm"):
        if score in prev:        # the earlier collisional run's phases, scaled by this run's ratios
            ph = prev[score]["phases_s"]
            steps = prev[score]["steps"]
            before = sum(ph.values()) / steps * 300 / 60
            sc = ph["score"] / res["blob_score"]["speedup"] if score == "blob" else ph["score"]
            after = (sc + ph["collision"] / res["collision"]["speedup"] + ph["field"] + ph["push"]) / steps * 300 / 60
            res[f"projected_t15_min_{score}"] = {"before": before, "after": after}
            say(f"cell_kernels: projected collisional run (n = 1e5, t = 15, cell weight, {score}): "
                f"{before:.1f} -> {after:.1f} min on 1 core (from the 'collisional' section's phases)")
    return {"n": n, "cells": C, "gamma": -3.0, "threads": torch.get_num_threads(), **res}


def _peak_reset(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)


def _peak_gib(dev):
    return torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else float("nan")


def gpu(args):
    """Issue 26 item 5 on a GPU: one collision evaluation at n = 1e6 and the per-phase cost of
    whole damping runs, float32 (each part stores its numbers as soon as it has them)."""
    dev = torch.device(args.device)
    n, M, f32 = args.n_large, args.gpu_M, torch.float32
    model = vl.landau_damping(alpha=0.1, k=0.5, dv=3, B=0.4, gamma=-3.0)
    out = {"device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu", "n": n, "M": M,
           "dtype": "float32", "dv": 3, "gamma": -3.0, "B": 0.4, "spatial_weight": "cell"}
    p = vl.sample_particles(model, n, seed=args.seed, dtype=f32, device=dev)
    weight = SpatialWeight("cell", model.L, M)
    eps = blob_bandwidth(p.v, n / M)

    parts = {}
    for rep in range(4):                         # the first is a warm-up (allocator, kernels)
        t0 = _clock(p.x)
        cl = CellList(weight, p.x)
        t1 = _clock(p.x)
        s = vl.spatial_blob_score(p.x, p.v, p.w, weight=weight, eps=eps, cells=cl)
        t2 = _clock(p.x)
        U = collision_velocity(p.x, p.v, s, p.w, weight=weight, gamma=-3.0, B=0.4, cells=cl)
        t3 = _clock(p.x)
        if rep == 0:
            _peak_reset(dev)
            continue
        for k, dt_ in (("cells", t1 - t0), ("blob_score", t2 - t1), ("collision", t3 - t2), ("total", t3 - t0)):
            parts[k] = min(parts.get(k, float("inf")), dt_)
    pairs = cl.pair_count()
    mom = float((p.w[:, None].double() * U.double()).sum(0).abs().max() / (p.w[:, None] * U).abs().sum())
    out["evaluation"] = {"seconds": parts, "pairs": pairs, "pairs_per_s_collision": pairs / parts["collision"],
                         "peak_gib": _peak_gib(dev), "relative_momentum_sum": mom, "target_s": 1.5,
                         "finite": bool(torch.isfinite(U).all())}
    say(f"gpu evaluation n={n} M={M}: " + ", ".join(f"{k} {v:.3f} s" for k, v in parts.items())
        + f" ({pairs:.3g} pairs, {pairs / parts['collision']:.3g} pairs/s); peak {_peak_gib(dev):.2f} GiB (target 1.5 s)")
    yield out
    steps = int(round(args.gpu_t / 0.05))
    for score in ("blob", "sbtm"):
        _peak_reset(dev)
        t0 = _clock(p.x)
        tr = vl.solve_vlasov(model, n=n, M=M, dt=0.05, t_end=args.gpu_t, score=score, spatial_weight="cell",
                             record_every=steps, seed=args.seed, dtype=f32, device=dev)
        wall = _clock(p.x) - t0
        per = {ph: float(tr[f"time_{ph}"][-1]) / steps for ph in PHASE_NAMES}
        init = float(tr.meta["score_init_seconds"])
        other = (wall - init) / steps - sum(per.values())
        out[score] = {"wall_s": wall, "steps": steps, "per_step_s": per, "other_per_step_s": other,
                      "init_s": init, "peak_gib": _peak_gib(dev),
                      "extrapolated_t15_min": (init + (wall - init) / steps * 300) / 60,
                      "momentum_drift": tr.momentum_drift(), "finite": bool(np.isfinite(tr.final["v"]).all())}
        say(f"gpu {score} run n={n}: {wall:.1f} s for {steps} steps (init {init:.1f} s): "
            + ", ".join(f"{k} {v:.3g}" for k, v in per.items())
            + f" s/step; t = 15 ~ {out[score]['extrapolated_t15_min']:.1f} min; peak {_peak_gib(dev):.2f} GiB")
        yield out
    out["ratios_sbtm_over_blob"] = {"run_time": out["sbtm"]["extrapolated_t15_min"] / out["blob"]["extrapolated_t15_min"],
                                    "peak_memory": out["sbtm"]["peak_gib"] / out["blob"]["peak_gib"]
                                    if dev.type == "cuda" else float("nan")}
    out["target_sbtm_t15_min"] = 15.0
    yield out


# ------------------------------------------------------------------ slices: before/after, one run
def _indexed_kernels():
    """The earlier loop form of the cell kernels (ψ = 1/h): partners indexed in the whole
    columns, ``for j in range(j0, j1)``. Kept here only as the benchmark's "before"."""
    import numba as nb

    from landau_nb.vlasov._numba_kernels import exp_neg

    jit = dict(fastmath=True, nogil=True, parallel=True)

    @nb.njit(**jit)
    def density(h, hie, V0, V1, V2, W, starts, counts, out):
        for c in nb.prange(starts.shape[0]):
            j0, j1 = starts[c], starts[c] + counts[c]
            for i in range(j0, j1):
                acc = 0.0
                for j in range(j0, j1):
                    z0, z1, z2 = V0[i] - V0[j], V1[i] - V1[j], V2[i] - V2[j]
                    acc += (1.0 / h) * W[j] * exp_neg((z0 * z0 + z1 * z1 + z2 * z2) * hie)
                out[i] = acc

    @nb.njit(**jit)
    def pull(h, hie, V0, V1, V2, W, INV, starts, counts, out):
        for c in nb.prange(starts.shape[0]):
            j0, j1 = starts[c], starts[c] + counts[c]
            for i in range(j0, j1):
                a0 = a1 = a2 = 0.0
                for j in range(j0, j1):
                    z0, z1, z2 = V0[i] - V0[j], V1[i] - V1[j], V2[i] - V2[j]
                    k = (1.0 / h) * W[j] * exp_neg((z0 * z0 + z1 * z1 + z2 * z2) * hie) * (INV[i] + INV[j])
                    a0 += k * z0
                    a1 += k * z1
                    a2 += k * z2
                out[i, 0], out[i, 1], out[i, 2] = a0, a1, a2

    @nb.njit(**jit)
    def collide(h, tiny, V0, V1, V2, S0, S1, S2, W, starts, counts, out):
        for c in nb.prange(starts.shape[0]):
            j0, j1 = starts[c], starts[c] + counts[c]
            for i in range(j0, j1):
                a0 = a1 = a2 = 0.0
                for j in range(j0, j1):
                    z0, z1, z2 = V0[i] - V0[j], V1[i] - V1[j], V2[i] - V2[j]
                    g0, g1, g2 = S0[i] - S0[j], S1[i] - S1[j], S2[i] - S2[j]
                    r2 = z0 * z0 + z1 * z1 + z2 * z2
                    pos = r2 > tiny
                    safe = r2 if pos else 1.0
                    a = 1.0 / math.sqrt(safe) if pos else 0.0
                    u = (z0 * g0 + z1 * g1 + z2 * g2) / safe if pos else 0.0
                    cw = (1.0 / h) * W[j] * a
                    a0 += cw * (g0 - u * z0)
                    a1 += cw * (g1 - u * z1)
                    a2 += cw * (g2 - u * z2)
                out[i, 0], out[i, 1], out[i, 2] = a0, a1, a2

    return density, pull, collide


def slices(args):
    """Package kernels (after) against the indexed loop form (before) on the same sorted
    columns; the sums agree to round-off (reported)."""
    from landau_nb.vlasov import _numba_kernels as kern
    from landau_nb.vlasov.collisions import _compiled
    n, C, L = args.n_medium, args.M, 4 * math.pi
    p = vl.sample_particles(vl.landau_damping(alpha=0.1, k=0.5, dv=3), n, seed=args.seed)
    x, v, w = p.x, p.v, p.w
    s = -v + 0.1 * torch.sin(v)
    weight = SpatialWeight("cell", L, C)
    cl = CellList(weight, x)
    eps, h = 0.44, L / C
    density, pull, collide = _indexed_kernels()
    (_, _, _, _), _, (V0, V1, V2, S0, S1, S2, W), starts, counts, _ = kern._sorted_inputs(weight, cl, x, v, s, w)

    def before_blob():
        rho = np.zeros(n)
        density(h, 0.5 / eps, V0, V1, V2, W, starts, counts, rho)
        out = np.zeros((n, 3))
        pull(h, 0.5 / eps, V0, V1, V2, W, 1.0 / rho, starts, counts, out)
        return out * (-1.0 / eps)

    def before_collision():
        out = np.zeros((n, 3))
        collide(h, np.finfo(np.float64).tiny, V0, V1, V2, S0, S1, S2, W, starts, counts, out)
        return out

    order = cl.order.numpy()
    res = {"pairs": cl.pair_count()}
    tb0, b0 = best_timed(before_blob)
    tb1, b1 = best_timed(lambda: kern.blob_sums(weight, cl, x, v, w, eps, True))
    tc0, c0 = best_timed(before_collision)
    tc1, c1 = best_timed(lambda: _compiled(x, v, s, w, weight, -3.0, 1.0, cl))
    for key, t0_, t1_, a, b in (("blob_score", tb0, tb1, b0, b1), ("collision", tc0, tc1, c0, -c1)):
        bb = b.numpy()[order]                       # the package's result, in the sorted order
        res[key] = {"before_s": t0_, "after_s": t1_, "speedup": t0_ / t1_, "pairs_per_s_after": res["pairs"] / t1_,
                    "rel_difference": float(np.linalg.norm(bb - a) / np.linalg.norm(a))}
        say(f"slices: {key}: before {t0_:.3f} s, after {t1_:.3f} s, x{t0_ / t1_:.2f} "
            f"({res['pairs'] / t1_:.3g} pairs/s; relative difference {res[key]['rel_difference']:.1e})")
    return {"n": n, "cells": C, "gamma": -3.0, "threads": torch.get_num_threads(), **res}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-medium", type=int, default=100_000)
    ap.add_argument("--n-large", type=int, default=1_000_000)
    ap.add_argument("--n-pairs", type=int, default=50_000)
    ap.add_argument("--M", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--B", type=float, default=0.1, help="collision strength of the collisional section")
    ap.add_argument("--spatial-weight", default="hat", choices=("cell", "hat", "cic"))
    ap.add_argument("--record-every", type=int, default=1)
    ap.add_argument("--collisional-t", type=float, default=1.0)
    ap.add_argument("--scaling-n", nargs="+", type=float, default=[2e4, 8e4, 3.2e5])
    ap.add_argument("--scaling-t", type=float, default=0.2, help="simulated time of each scaling run")
    ap.add_argument("--budget-hours", type=float, default=3.0, help="the scaling section's CPU budget per run")
    ap.add_argument("--device", default="cpu", help="the gpu section's device (cuda on a GPU)")
    ap.add_argument("--gpu-M", type=int, default=128, help="cells of the gpu section")
    ap.add_argument("--gpu-t", type=float, default=0.25, help="simulated time of the gpu section's runs")
    ap.add_argument("--tag", default="", help="suffix of the section names in the JSON (keeps variants apart)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in args.only:
        t0 = time.perf_counter()
        section = globals()[name](args)
        # a generator section stores each part as it comes (a GPU lease can end mid-section)
        for entry in (section if inspect.isgenerator(section) else [section]):
            entry["section_wall_s"] = time.perf_counter() - t0
            entry["machine"] = {"python": platform.python_version(), "torch": torch.__version__,
                                "threads": torch.get_num_threads(),
                                "processor": platform.processor() or platform.machine(),
                                "date": time.strftime("%Y-%m-%d %H:%M")}
            results[name + args.tag] = entry
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1, sort_keys=True, default=float))
    return results


if __name__ == "__main__":
    main()
