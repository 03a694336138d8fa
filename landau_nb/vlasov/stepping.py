"""The phase-space state and the time steppers (splitting of transport + field and collisions).

Splitting of ∂ₜf = 𝒱f + B 𝒞f (𝒱: Vlasov–Poisson transport, 𝒞: collisions in v at each x):

* :class:`StrangSplitting` (default, second order): C(dt/2) ∘ VP(dt) ∘ C(dt/2);
* :class:`LieSplitting` (first order): VP(dt) ∘ C(dt) (collisions first, then transport).

VP(dt) is the kick–drift–kick leapfrog (:class:`VlasovPoissonStep`), second order,
symplectic for the particle–mesh Hamiltonian: v₁ += (dt/2)E(x); x += dt v₁ (mod L); solve
the field; v₁ += (dt/2)E(x). Its total energy error oscillates at O(dt²) (no secular drift
beyond the mesh's slow numerical heating).

C(h) (:class:`CollisionStep`) integrates dvᵢ/dt = Uᵢ(v, s(v)) at fixed x with the score
re-estimated at each stage:

* ``"euler"``: v' = v + h U(v). Momentum exact (Σ w U = 0); kinetic energy changes by
  ΔK = (h²/2) Σᵢ wᵢ|Uᵢ|² ≥ 0 (Σ w v·U = 0): O(h²) per step, a heating of O(h) over a
  fixed time.
* ``"heun"`` (default): v̂ = v + h U₀, v' = v + (h/2)(U₀ + U₁), U₁ = U(v̂). Momentum exact;
  since Σ w v̂·U₁ = 0, ΔK = (h²/8) Σᵢ wᵢ|U₁,ᵢ − U₀,ᵢ|² ≥ 0, which is O(h⁴) per step
  (U₁ − U₀ = O(h) for a score smooth in v), O(h³) over a fixed time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ._deps import check_choice
from .collisions import collision_velocity
from .spatial import CellList

__all__ = ["PhaseSpaceState", "VlasovPoissonStep", "CollisionStep", "StrangSplitting", "LieSplitting",
           "SPLITTINGS", "COLLISION_SCHEMES", "make_splitting", "NonFiniteQuantity", "PHASES"]

SPLITTINGS = ("strang", "lie")
COLLISION_SCHEMES = ("heun", "euler")
PHASES = ("push", "field", "score", "collision")


class NonFiniteQuantity(FloatingPointError):
    """Raised inside a step when a quantity became NaN/Inf (the solver adds step and time)."""

    def __init__(self, quantity: str, count: int, total: int):
        super().__init__(f"{quantity} has non-finite entries (NaN or Inf) in {count} of {total} rows")
        self.quantity, self.count, self.total = quantity, count, total


def check_finite(name: str, t: torch.Tensor) -> None:
    if not bool(torch.isfinite(t).all()):
        bad = ~torch.isfinite(t)
        rows = int(bad.any(dim=1).sum()) if bad.ndim == 2 else int(bad.sum())
        raise NonFiniteQuantity(name, rows, t.shape[0])


@dataclass
class PhaseSpaceState:
    """Particles, field and the energy ledger at one time.

    ``E`` on the mesh nodes, ``E_part`` gathered at the particles, ``rho`` the deposited
    density; ``ledger``: ``kick_work`` (kinetic energy gained in the kicks: field → kinetic,
    cumulative), ``collision_energy`` (kinetic energy change of the collision steps,
    cumulative; zero for the exact collision flow), ``entropy_production`` (−Σ w s·U of the
    last collision evaluation). ``timers``: cumulative seconds per phase (push, field, score,
    collision)."""

    x: torch.Tensor
    v: torch.Tensor
    w: torch.Tensor
    rho: torch.Tensor
    E: torch.Tensor
    E_part: torch.Tensor
    step: int = 0
    t: float = 0.0
    ledger: dict = field(default_factory=lambda: {"kick_work": 0.0, "collision_energy": 0.0,
                                                  "entropy_production": 0.0})
    timers: dict = field(default_factory=lambda: {p: 0.0 for p in PHASES})


def _clock(t: torch.Tensor) -> float:
    """time.perf_counter() after the device of t has finished its queued work (on a GPU the
    kernels run asynchronously: without the synchronisation a phase's time lands in the next)."""
    if t.device.type == "cuda":
        torch.cuda.synchronize(t.device)
    return time.perf_counter()


def _kinetic(w, v) -> float:
    return 0.5 * float((w.double()[:, None] * v.double() ** 2).sum())


class VlasovPoissonStep:
    """Kick–drift–kick leapfrog for dx/dt = v₁, dv₁/dt = E(x) with the mesh field (CIC +
    spectral Poisson, :class:`~landau_nb.vlasov.field.PeriodicMesh`)."""

    def __init__(self, mesh, rho_ion: float = 1.0):
        self.mesh, self.rho_ion = mesh, rho_ion

    def kick(self, state: PhaseSpaceState, h: float) -> None:
        v1 = state.v[:, 0]
        dv1 = h * state.E_part
        # kinetic energy gained: sum w ((v1 + dv1)^2 - v1^2)/2 = sum w dv1 (v1 + dv1/2)
        state.ledger["kick_work"] += float((state.w.double() * dv1.double() * (v1.double() + 0.5 * dv1.double())).sum())
        state.v[:, 0] = v1 + dv1

    def field(self, state: PhaseSpaceState) -> None:
        state.rho, state.E, state.E_part = self.mesh.field(state.x, state.w, self.rho_ion)

    def __call__(self, state: PhaseSpaceState, dt: float) -> None:
        t0 = _clock(state.x)
        self.kick(state, dt / 2)
        state.x = torch.remainder(state.x + dt * state.v[:, 0], self.mesh.L)
        t1 = _clock(state.x)
        self.field(state)
        t2 = _clock(state.x)
        self.kick(state, dt / 2)
        t3 = _clock(state.x)
        state.timers["push"] += (t1 - t0) + (t3 - t2)
        state.timers["field"] += t2 - t1
        check_finite("E (field)", state.E[:, None])
        check_finite("v (velocities)", state.v)


class CollisionStep:
    """The collision sub-step C(h) by Heun (default) or Euler (module docstring), with the
    score re-estimated at each stage and the cell list of the (fixed) positions shared."""

    def __init__(self, model, weight, score, *, scheme: str = "heun", method: str = "auto"):
        self.model, self.weight, self.score = model, weight, score
        self.scheme = check_choice("collision_scheme", scheme, COLLISION_SCHEMES)
        self.method = method
        #: (v, s) of the first stage of the last call (the positions are the state's): what the
        #: recorded score error (:func:`~landau_nb.vlasov.diagnostics.measure`) is measured on
        self.last: tuple | None = None

    def velocity(self, state, v, t, cells):
        t0 = _clock(state.x)
        s = self.score(state.x, v, state.w, t, cells=cells)
        check_finite("score", s)
        t1 = _clock(state.x)
        U = collision_velocity(state.x, v, s, state.w, weight=self.weight, gamma=self.model.gamma, B=self.model.B,
                               method=self.method, cells=cells)
        check_finite("U (collision velocity)", U)
        t2 = _clock(state.x)
        state.timers["score"] += t1 - t0
        state.timers["collision"] += t2 - t1
        return s, U

    def __call__(self, state: PhaseSpaceState, h: float) -> None:
        t0 = _clock(state.x)
        cells = CellList(self.weight, state.x)
        state.timers["collision"] += _clock(state.x) - t0
        w = state.w.double()
        k0 = _kinetic(state.w, state.v)
        s0, U0 = self.velocity(state, state.v, state.t, cells)
        self.last = (state.v, s0)
        state.ledger["entropy_production"] = -float((w[:, None] * s0.double() * U0.double()).sum())
        if self.scheme == "euler":
            v_new = state.v + h * U0
        else:
            v_hat = state.v + h * U0
            _, U1 = self.velocity(state, v_hat, state.t + h, cells)
            v_new = state.v + (h / 2) * (U0 + U1)
        check_finite("v (velocities)", v_new)
        state.v = v_new
        state.ledger["collision_energy"] += _kinetic(state.w, state.v) - k0


class StrangSplitting:
    """C(dt/2) ∘ VP(dt) ∘ C(dt/2): second order (C skipped when collisionless).

    Fusing: the last collision half step of one step and the first of the next act on the
    same positions back to back, so ``fuse_next=True`` replaces them by one C(dt) (the next
    step is then called with ``skip_first=True``): half the collision and score evaluations,
    the same order; the state between the two halves is then never formed, so the solver
    fuses only across steps it does not record or checkpoint."""

    name = "strang"

    def __init__(self, vlasov: VlasovPoissonStep, collision: CollisionStep | None):
        self.vlasov, self.collision = vlasov, collision

    def __call__(self, state: PhaseSpaceState, dt: float, *, skip_first: bool = False,
                 fuse_next: bool = False) -> None:
        t = state.t
        if self.collision is not None and not skip_first:
            self.collision(state, dt / 2)
        self.vlasov(state, dt)
        if self.collision is not None:
            state.t = t + dt / 2                   # the second collision half step starts at t + dt/2
            self.collision(state, dt if fuse_next else dt / 2)
            state.t = t


class LieSplitting:
    """VP(dt) ∘ C(dt): collisions first, then transport (first order)."""

    name = "lie"

    def __init__(self, vlasov: VlasovPoissonStep, collision: CollisionStep | None):
        self.vlasov, self.collision = vlasov, collision

    def __call__(self, state: PhaseSpaceState, dt: float, *, skip_first: bool = False,
                 fuse_next: bool = False) -> None:
        if self.collision is not None:
            self.collision(state, dt)
        self.vlasov(state, dt)


def make_splitting(name: str, vlasov, collision):
    check_choice("splitting", name, SPLITTINGS)
    return (StrangSplitting if name == "strang" else LieSplitting)(vlasov, collision)
