"""Contract tests over every registered entry (as scikit-learn's check_estimator): a problem,
an estimator, a stepper or an experiment added to its registry is checked here without
editing this file. And the package's architecture: wings whose imports only go down."""

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import landau_nb as ln
from landau_nb.equation.operators import Equation
from landau_nb.experiments.store_names import check_name
from landau_nb.scores.registry import ESTIMATORS, make_estimator, register_estimator
from landau_nb.solver.stepping import STEPPERS, Stepper, get_stepper

F64, F32 = torch.float64, torch.float32
ROOT = Path(__file__).resolve().parents[1]

# cheap options per estimator for the contract (an entry without one is built with defaults)
CHEAP = {"sbtm": {"width": 8, "K": 2, "init_tol": 0.9, "init_lr": 1e-2, "init_max_iter": 200}}


def _problem_for(name):
    cls = ln.PROBLEMS[name]
    d = 3 if ln.PROBLEMS[name]().equation.collisional else 2
    return cls(d)


# --- problems ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ln.PROBLEMS))
def test_problem_contract(name):
    p = _problem_for(name)
    assert p.name == name and isinstance(p.equation, Equation)
    g = torch.Generator().manual_seed(0)
    x = p.sample(200, g)
    assert x.shape == (200, p.d) and x.dtype == F64 and torch.isfinite(x).all()
    assert torch.equal(x, p.sample(200, torch.Generator().manual_seed(0)))        # seeded
    # rebuilt from its parameters (what a sweep worker and a saved run do)
    params = p.params()
    json.dumps(params)
    q = ln.problem_from_params(params)
    assert type(q) is type(p) and q.params() == params and q.equation == p.equation
    # the velocity keeps the momentum for every equation with a pair sum; a shape for all
    s = p.initial_score(x)
    v = p.velocity(x, s)
    assert v.shape == x.shape and torch.isfinite(v).all()
    if p.equation.collisional:
        assert float(v.sum(0).abs().max()) < 1e-12 * float(v.abs().sum())
    if p.has_exact_solution:
        for t in (p.t0, p.t0 + 5 * p.dt):
            y = x[:20].clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(p.log_density(y, t).sum(), y)
            assert torch.allclose(p.score(x[:20], t), grad, rtol=1e-10, atol=1e-10)      # score = grad log u
            assert torch.allclose(p.density(x[:20], t), p.log_density(x[:20], t).exp(), rtol=1e-12)


def test_problem_registry_refuses_a_taken_name_and_non_problems():
    class Other(ln.AnisotropicGaussian):
        name = "bkw"
    with pytest.raises(ValueError, match="problem name 'bkw' is already registered to BKW"):
        ln.register_problem(Other)
    with pytest.raises(TypeError, match="takes a Problem subclass"):
        ln.register_problem(object)


def test_a_registered_problem_is_rebuilt_by_a_worker(monkeypatch):
    # a problem added to the registry works by name AND from its saved parameters (once two maps)
    class Wider(ln.AnisotropicGaussian):
        name = "wider_gaussian"
    monkeypatch.setitem(ln.PROBLEMS, "wider_gaussian", Wider)
    p = ln.get_problem("wider_gaussian", d=3)
    assert type(ln.problem_from_params(p.params())) is Wider


# --- equations -----------------------------------------------------------------------------

@pytest.mark.parametrize("eq", [ln.LandauOperator(0.0), ln.LandauOperator(-3.0), ln.HeatOperator(0.5),
                                ln.FokkerPlanckOperator()], ids=repr)
def test_equation_contract(eq):
    x = torch.randn(50, 3, dtype=F64, generator=torch.Generator().manual_seed(1))
    s = -x
    v = eq.velocity(x, s)
    assert v.shape == x.shape
    jac = -torch.eye(3, dtype=F64).expand(50, 3, 3)
    assert eq.velocity_divergence(x, s, jac).shape == (50,)
    assert eq == eq.name and str(eq) == eq.name and eq == type(eq)(**eq.params())
    if eq.conserves_energy:            # the Gaussian score of N(0, I) is the equilibrium: v = 0 at s = -x
        assert float(v.abs().max()) < 1e-12


# --- score estimators ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimator_contract(name, dtype):
    cls = ESTIMATORS[name]
    assert cls.name == name
    p = ln.bkw(3)                      # a closed-form solution: every estimator applies
    x = p.sample(80, torch.Generator().manual_seed(2)).to(dtype)
    est = make_estimator(name, **CHEAP.get(name, {}))
    params = est.params()
    assert params["name"] == name
    json.dumps(params, default=float)
    est.initialize(p, x, p.t0, seed=3)
    s = est(x, p.t0)
    assert s.shape == x.shape and s.dtype == dtype and s.device == x.device and torch.isfinite(s).all()
    # state round trip: a fresh estimator restored from the state continues identically
    arrays, meta = est.get_state()
    assert all(isinstance(a, np.ndarray) for a in arrays.values())
    json.dumps(meta, default=float)
    twin = make_estimator(name, **CHEAP.get(name, {}))
    twin.set_state(p, x, p.t0, 3, {k: a.copy() for k, a in arrays.items()}, json.loads(json.dumps(meta, default=float)))
    y = x + 0.01
    a, b = est(y, p.t0 + p.dt), twin(y, p.t0 + p.dt)
    assert torch.equal(a, b)
    # clear errors: an unknown option names itself
    with pytest.raises(TypeError, match=f"bad option for method={name!r}"):
        make_estimator(name, no_such_option=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimator_contract_follows_the_device(name):
    p = ln.bkw(3)
    x = p.sample(80, torch.Generator().manual_seed(2)).to("cuda", F32)
    est = make_estimator(name, **CHEAP.get(name, {}))
    est.initialize(p, x, p.t0, seed=3)
    s = est(x, p.t0)
    assert s.device == x.device and s.dtype == F32


def test_estimator_registry_refuses_a_taken_name():
    class Other(ln.ExactScore):
        name = "sbtm"
    with pytest.raises(ValueError, match="estimator name 'sbtm' is already registered to SBTM"):
        register_estimator(Other)
    with pytest.raises(ValueError, match="method='nope'"):
        make_estimator("nope")


# --- steppers ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(STEPPERS))
def test_stepper_contract(name):
    st = get_stepper(name)
    assert isinstance(st, Stepper) and st.name == name and st.order >= 1 and get_stepper(st) is st
    p = ln.heat(2, dt=0.1, t_end=1.5)
    by_name = ln.solve(p, "exact", n=50, seed=0, stepper=name, progress=False)
    by_object = ln.solve(p, "exact", n=50, seed=0, stepper=st, progress=False)
    assert np.array_equal(by_name.x, by_object.x) and by_name.meta["stepper"] == name
    # the heat equation's second moment grows linearly: a scheme of order >= 1 gets it to O(dt)
    err = abs(by_name["second_moment"][-1].trace() / 2 - p.variance(p.t_end))
    assert err < 0.2


# --- experiments ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ln.EXPERIMENTS))
def test_experiment_contract(name):
    exp = ln.get_experiment(name)
    assert exp.name == name
    check_name("experiment", name)
    ln.get_problem(**exp.problem)
    for scale in ln.experiments.SCALES:
        specs = exp.runs(scale)
        assert specs and len({sp.stem for sp in specs}) == len(specs)
        for sw in exp.sweeps(scale):
            check_name("label", sw.label)
            assert sw.solver in ESTIMATORS
            make_estimator(sw.solver, **{**exp.options.get(sw.solver, {}), **sw.options})


# --- the package's architecture ------------------------------------------------------------

def _graph():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return importlib.import_module("import_graph")
    finally:
        sys.path.pop(0)


def test_wings_import_only_downwards_and_no_circle():
    ig = _graph()
    g = ig.edges()
    assert ig.circles(g) == []
    assert ig.upward(g) == []
    assert all(ig.wing(m) != "_unplaced" for m in g), [m for m in g if ig.wing(m) == "_unplaced"]


def test_no_private_name_crosses_a_wing():
    ig = _graph()
    bad = ig.private_imports()
    assert bad == [], bad


def test_public_api_is_explicit_and_shadows_no_module():
    assert len(ln.__all__) == len(set(ln.__all__))
    for name in ln.__all__:
        obj = getattr(ln, name)
        if not isinstance(obj, type(ln)):      # a function or class must not hide a module of that name
            assert importlib.util.find_spec(f"landau_nb.{name}") is None, name
