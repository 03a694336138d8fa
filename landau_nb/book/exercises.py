"""Self-checks for the book's computer (⌨) exercises.

Every ⌨ exercise of the book is followed by a starter cell (kept in the student edition) that
runs after the chapter's first code cell alone and ends with a call such as::

    ln.book.exercises.check("ex-exp_bkw-dt", slope=...)

Each keyword left at ``...`` (the starter's placeholder) means "not answered yet": the check
then says so and returns None, so a student notebook runs from top to bottom before any
exercise is done. Once every value is filled in, the check asserts what the exercise's
solution asserts (the same bounds) and prints a one-line verdict; a wrong answer raises
``AssertionError`` with a hint. The solutions in the full edition call the same checks with
their own results, so the checks are exercised every time the chapters are executed.

Exercises whose answer is a timing on the reader's machine or a judgement have a starter but
no check (:data:`UNCHECKED` says why).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

__all__ = ["check", "CHECKS", "UNCHECKED", "answered"]


def answered(*values) -> bool:
    """True when no value is the starter's placeholder ``...`` (nor contains one)."""
    def filled(v):
        if v is Ellipsis:
            return False
        if isinstance(v, dict):
            return all(filled(x) for x in v.values())
        if isinstance(v, (list, tuple)):
            return all(filled(x) for x in v)
        return True
    return all(filled(v) for v in values)


def _num(name, v) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise AssertionError(f"{name} should be a number, got {type(v).__name__}") from None
    if not math.isfinite(x):
        raise AssertionError(f"{name} is not finite ({x})")
    return x


def _arr(name, v) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.ndim != 1 or a.size < 2 or not np.all(np.isfinite(a)):
        raise AssertionError(f"{name} should be a 1-d sequence of finite numbers (one per seed)")
    return a


def _blob_method_3(best_error_d3, best_error_d5):
    b3, b5 = _num("best_error_d3", best_error_d3), _num("best_error_d5", best_error_d5)
    assert 0 < b3 < 1 and 0 < b5 < 1, "normalised score errors lie between 0 and 1 here"
    assert b5 > 1.5 * b3, ("the best error in d = 5 should be well above the one in d = 3 "
                           f"(got {b5:.3f} vs {b3:.3f}): average over eight samples")
    return f"best error d = 5 / d = 3: {b5 / b3:.1f}"


def _anisotropic_2(rms, formula):
    r, f = _num("rms", rms), _num("formula", formula)
    assert f > 0, "the floor formula is positive"
    assert abs(r / f - 1) < 0.15, (f"Monte Carlo {r:.3f} and formula {f:.3f} differ by more than 15 %: "
                                   "push each sample's own Sigma_n(0) and mean through the closed form")
    return f"Monte Carlo / formula = {r / f:.3f}"


def _anisotropic_3(increase, predicted):
    i, p = _num("increase", increase), _num("predicted", predicted)
    assert p > 0, "dt^2 sum_k |v^k|^2 is positive"
    assert abs(i / p - 1) < 1e-6, (f"increase {i:.6e} vs predicted {p:.6e}: leave out the callback's "
                                   "last call (at t_end no step is taken)")
    return "increase / predicted - 1 " + ("< 1e-8 (round-off)" if abs(i / p - 1) < 1e-8 else "< 1e-6")


def _anisotropic_4(err_narrow, err_sbtm):
    e, s = _num("err_narrow", err_narrow), _num("err_sbtm", err_sbtm)
    assert e > 2 * s, f"blob (reference rule) {e:.3f} vs SBTM {s:.3f}: recheck the runs"
    return f"blob with the narrower kernel / SBTM = {e / s:.1f}"


def _bkw_exact(ex_rise, exact_rise):
    r, x = _num("ex_rise", ex_rise), _num("exact_rise", exact_rise)
    assert x > 0, "the exact fourth moment rises"
    assert abs(r - x) < 0.5 * x, f"rise with the exact score {r:.3f} vs exact {x:.3f}"
    return f"rise with the exact score / exact rise = {r / x:.2f}"


def _bkw_dt(slope):
    s = _num("slope", slope)
    assert abs(s - 1) < 0.1, f"slope {s:.3f}: expected first order (1) in dt; use |E(t_end) - E(t0)|"
    return f"slope {s:.3f}"


def _coulomb_3(paper_rule_ratio, narrowest_ratio):
    p, n = _num("paper_rule_ratio", paper_rule_ratio), _num("narrowest_ratio", narrowest_ratio)
    assert p < 0.6, f"at the paper's eps the blob rate should be well below the exact one (got {p:.2f})"
    assert n > 3, f"at eps = 10^-2.5 the blob rate should overshoot the exact one (got {n:.2f})"
    return f"rate / exact rate: paper rule {p:.2f}, narrowest eps {n:.1f}"


def _coulomb_4(max_difference):
    d = _num("max_difference", max_difference)
    assert 0 <= d < 0.02, (f"max |a_dt=1 - a_dt=0.25| = {d:.4f}: compare at common times "
                           "(every fourth point of the fine run)")
    return f"largest difference of a(t): {d:.4f}"


def _dimension10_3(counts):
    if not isinstance(counts, dict) or sorted(counts) != [2, 3, 5, 7, 10]:
        raise AssertionError("counts should be a dict {d: mean number of neighbours} for d = 2, 3, 5, 7, 10")
    c = {d: _num(f"counts[{d}]", v) for d, v in counts.items()}
    ds = sorted(c)
    assert all(c[a] > c[b] for a, b in zip(ds, ds[1:])), "the count should fall with the dimension"
    assert c[5] > 10 > c[7], f"the count drops below ten between d = 5 and d = 7 (got {c})"
    return "below ten neighbours from d = 7 on"


def _dimension10_4(best_error_d10, error_d3):
    b, e3 = _num("best_error_d10", best_error_d10), _num("error_d3", error_d3)
    assert b > 2 * e3, f"even the best eps in d = 10 ({b:.3f}) should stay far above d = 3 ({e3:.3f})"
    return f"best error d = 10 / d = 3 = {b / e3:.1f}"


def _learning_rate_bias(bias):
    if not isinstance(bias, dict) or sorted(bias) != [0.1, 0.2, 0.4]:
        raise AssertionError("bias should be a dict {alpha: normalised error} for alpha = 0.1, 0.2, 0.4")
    b = {a: _num(f"bias[{a}]", v) for a, v in bias.items()}
    assert all(v > 0 for v in b.values()), "the smoothing bias is positive"
    assert b[0.1] < b[0.2] < b[0.4], f"the bias should grow with alpha (got {b})"
    assert b[0.4] / b[0.1] > 4, "the bias of alpha^2-smoothing grows about like alpha^2 or faster"
    return "bias: " + ", ".join(f"alpha = {a}: {v:.2e}" for a, v in b.items())


def _kl_bound_4(kl_in_sample, kl_tracers, kl_tracers_se):
    k, t, se = (_num("kl_in_sample", kl_in_sample), _num("kl_tracers", kl_tracers),
                _num("kl_tracers_se", kl_tracers_se))
    assert se > 0, "the tracer estimate has a positive standard error"
    assert k < t - 3 * se, (f"the in-sample estimate {k:.3f} should lie below the tracer estimate "
                            f"{t:.3f} +- {se:.3f} by more than three standard errors")
    return f"in-sample {k:+.3f} below tracers {t:+.3f} +- {se:.3f}"


def _landau_continuity_3(kappa, on_line, off_line):
    k, o = _num("kappa", kappa), _num("on_line", on_line)
    assert abs(k) < 1e-12, f"kappa = tr cov - ||cov|| of a sample on a line is 0 (got {k:.2e})"
    assert abs(o) < 1e-12, f"the smallest eigenvalue of D(y)/B on the line is 0 (got {o:.2e})"
    if not isinstance(off_line, dict) or not off_line:
        raise AssertionError("off_line should be a dict {distance h from the line: smallest eigenvalue}")
    for h, lam in off_line.items():
        lam = _num(f"off_line[{h}]", lam)
        assert 0 < lam <= float(h) ** 2, f"at distance {h} the eigenvalue should lie in (0, h^2] (got {lam:.2e})"
    return "D(y) singular exactly on the line"


def _maxwell_3(speedup_d10):
    s = _num("speedup_d10", speedup_d10)
    assert s > 10, f"the moment form should still be > 10x faster at n = 4000 in d = 10 (got {s:.1f})"
    return f"speed-up in d = 10 at n = 4000: {s:.0f}x"


def _particles_3(momentum_fp, energy_fp):
    m, e = _num("momentum_fp", momentum_fp), _num("energy_fp", energy_fp)
    assert m > 0.1 and e > 0.1, ("with the untrained network the Fokker-Planck form should change "
                                 f"momentum and energy at relative rates > 0.1 (got {m:.1e}, {e:.1e})")
    return f"Fokker-Planck form, untrained net: momentum {m:.1e}, energy {e:.1e}"


def _particles_4(changes, momentum, energy):
    m, e = _num("momentum", momentum), _num("energy", energy)
    assert m < 1e-12 and e < 1e-12, "the regularised velocity still conserves momentum and energy"
    if not isinstance(changes, dict) or len(changes) < 2:
        raise AssertionError("changes should be a dict {r0: ||v_r0 - v|| / ||v||} for several r0")
    r0s = sorted(changes)
    c = [_num(f"changes[{r}]", changes[r]) for r in r0s]
    assert all(a <= b for a, b in zip(c, c[1:])), "the change should shrink with r0"
    assert c[-1] > 1e-3, "at r0 = 0.1 the change of v should be visible"
    return "change of v: " + ", ".join(f"r0 = {r:g}: {v:.1e}" for r, v in zip(r0s, c))


def _preface_3(err_sbtm, err_blob100, err_blob400):
    s, b1, b4 = _arr("err_sbtm", err_sbtm), _arr("err_blob100", err_blob100), _arr("err_blob400", err_blob400)
    if not len(s) == len(b1) == len(b4):
        raise AssertionError("one error per seed in each list")
    assert np.all(b1 > 2 * s), "for every seed the blob error at n = 100 should exceed twice SBTM's"
    gain = b1 - b4
    se = gain.std(ddof=1) / math.sqrt(len(gain))
    assert gain.mean() > 2 * se, "four times the particles should lower the blob error on average"
    return f"blob / SBTM at n = 100: {np.min(b1 / s):.1f}x or more; gain n = 100 -> 400: {gain.mean():.3f} +- {se:.3f}"


def _score_matching_3(best_fresh_implicit, best_fresh_denoising):
    i, d = _num("best_fresh_implicit", best_fresh_implicit), _num("best_fresh_denoising", best_fresh_denoising)
    assert d < i, f"at fresh points the denoising loss should generalise better ({d:.3f} vs {i:.3f})"
    return f"best error at fresh points: implicit {i:.3f}, denoising {d:.3f}"


def _vlasov_collisions_2(shift_2v, shift_3v):
    from ..vlasov import dougherty_shift
    a, b = _num("shift_2v", shift_2v), _num("shift_3v", shift_3v)
    want_a = float(dougherty_shift([0.4], k=0.5, dv=2, gamma=-2.0)["rate_shift"][0])
    want_b = float(dougherty_shift([0.4], k=0.5, dv=3, gamma=-3.0)["rate_shift"][0])
    assert abs(a - want_a) < 1e-6, "shift_2v: use dv=2, gamma=-2.0 at B = 0.4 (the rate_shift entry)"
    assert abs(b - want_b) < 1e-6, "shift_3v: use dv=3, gamma=-3.0 at B = 0.4 (the rate_shift entry)"
    assert a > b > 0, "both shifts are positive (less damping), the 2V one larger"
    return f"Dougherty-matched shift at B = 0.4: 2V {a:+.4f}, 3V {b:+.4f}"


#: exercise label -> check (keyword answers); see :func:`check`
CHECKS: dict[str, Callable[..., str]] = {
    "ex-blob_method-3": _blob_method_3,
    "ex-exp_anisotropic-2": _anisotropic_2,
    "ex-exp_anisotropic-3": _anisotropic_3,
    "ex-exp_anisotropic-4": _anisotropic_4,
    "ex-exp_bkw-exact": _bkw_exact,
    "ex-exp_bkw-dt": _bkw_dt,
    "ex-exp_coulomb-3": _coulomb_3,
    "ex-exp_coulomb-4": _coulomb_4,
    "ex-exp_dimension10-3": _dimension10_3,
    "ex-exp_dimension10-4": _dimension10_4,
    "ex-exp_learning_rate-bias": _learning_rate_bias,
    "ex-kl_bound-4": _kl_bound_4,
    "ex-landau_continuity-3": _landau_continuity_3,
    "ex-maxwell_moments-3": _maxwell_3,
    "ex-particles_conservation-3": _particles_3,
    "ex-particles_conservation-4": _particles_4,
    "ex-preface-3": _preface_3,
    "ex-score_matching-3": _score_matching_3,
    "ex-vlasov_collisions-2": _vlasov_collisions_2,
}

#: ⌨ exercises with a starter but no automatic check, and why
UNCHECKED = {
    "ex-exp_learning_rate-loss": "a comparison to describe (training loss vs true score error)",
    "ex-exp_runtime-2": "timings of your machine",
    "ex-exp_runtime-3": "timings of your machine",
    "ex-vlasov_landau-3": "an experiment to describe (how many particles a random start needs)",
    "ex-vlasov_collisions-3": "an experiment to describe (score error and shift with fuller collision cells)",
}


def check(label: str, **answers):
    """Check the answers to exercise ``label`` (keywords as in its starter cell). Returns None
    (and says so) while a value is still ``...``; raises AssertionError for a wrong answer;
    prints the verdict and returns True for a right one."""
    if label in UNCHECKED:
        raise KeyError(f"{label} has no automatic check ({UNCHECKED[label]})")
    if label not in CHECKS:
        raise KeyError(f"no check for {label!r}; exercises with checks: {sorted(CHECKS)}")
    fn = CHECKS[label]
    import inspect

    expected = list(inspect.signature(fn).parameters)
    if sorted(answers) != sorted(expected):
        raise TypeError(f"{label}: give {', '.join(expected)} (got {', '.join(sorted(answers)) or 'nothing'})")
    if not answered(*answers.values()):
        missing = [k for k, v in answers.items() if not answered(v)]
        print(f"{label}: not answered yet (replace the ... of {', '.join(missing)})")
        return None
    try:
        verdict = fn(**answers)
    except AssertionError as exc:
        raise AssertionError(f"{label}: not yet right: {exc}") from None
    print(f"{label}: ✓ {verdict}")
    return True
