"""The claims registry and the reproduction scoreboard (landau_nb.book.claims; book: "Reproduction
scoreboard"). Claims are registered here in a private registry, tested on a small paper-scale
folder written by the runner, so these tests do not depend on the claims of the chapters."""

from pathlib import Path

import pytest
import torch

import landau_nb as ln
from landau_nb.book import claims
from landau_nb.book.claims import Verdict

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A paper-scale folder holding registered runs of anisotropic_d3: blob with both bandwidth rules
    (labels blob and blob_authors), n = 100, seed 0."""
    out = tmp_path_factory.mktemp("paper")
    ln.run_experiment("anisotropic_d3", "paper", out=out, dtype=torch.float32, labels=["blob", "blob_authors"], ns=[100],
                      seeds=[0], progress=False)
    return out


@pytest.fixture
def registry(monkeypatch):
    """A private, empty claims registry with four claims of different outcomes."""
    monkeypatch.setattr(claims, "CLAIMS", {})

    @claims.claim("drift", experiment="anisotropic_d3", where="Example 5.2",
                  quote="The blob method conserves momentum | up to\n round-off.", chapter="exp_anisotropic")
    def drift(res):
        value = float(res.values("momentum_drift", at="max", label="blob")["blob"][100].max())
        return Verdict(f"{value:.1e}", "yes" if value < 1e-5 else "no", "momentum drift of blob, n = 100")

    @claims.claim("large_n", experiment="anisotropic_d3", where="Fig. 5.3", quote="At n = 12 800 ...",
                  chapter="exp_anisotropic")
    def large_n(res):
        res.get("blob", 12800)
        return Verdict("?", "yes")

    @claims.claim("bkw", experiment="bkw", where="Example 5.1", quote="BKW ...", chapter="exp_bkw")
    def bkw(res):
        return Verdict("?", "yes")

    @claims.claim("half", experiment="anisotropic_d3", where="Fig. 5.3", quote="Both methods ...",
                  chapter="exp_anisotropic")
    def half(res):
        return Verdict("1 of 2", "partly", "holds for the blob method only")

    return claims.CLAIMS


def test_verdict_checks_its_outcome():
    with pytest.raises(ValueError, match="reproduced"):
        Verdict("1", "maybe")


def test_a_claim_is_registered_once(registry):
    with pytest.raises(ValueError, match="registered twice"):
        claims.claim("drift", experiment="bkw", quote="q", where="w", chapter="exp_bkw")(lambda res: None)


def test_evaluate_and_pending(registry, folder):
    got = {c.key: v for c, v in claims.evaluate(folder=folder)}
    assert list(got) == ["drift", "large_n", "bkw", "half"]
    # decided on the blob runs with the bandwidth of the authors' code (blob_authors, which
    # labels="blob" ran too), the paper text's rule beside it
    assert got["drift"].reproduced == "yes" and float(got["drift"].value.split()[0]) < 1e-5
    assert "with the paper text's rule: YES" in got["drift"].value
    # a run the test needs is missing: pending, naming what is missing
    assert got["large_n"].reproduced == "pending" and "not committed yet" in got["large_n"].detail
    assert "n=12800" in got["large_n"].detail
    # no runs of the experiment at all
    assert got["bkw"] == Verdict("—", "pending", "no paper-scale runs of bkw committed yet")
    assert claims.tally(claims.evaluate(folder=folder)) == {"yes": 1, "partly": 1, "no": 0, "pending": 2}
    assert [c.key for c, _ in claims.evaluate(["half", "drift"], folder=folder)] == ["half", "drift"]
    with pytest.raises(ValueError, match="claim"):
        claims.evaluate(["nope"], folder=folder)


def test_a_failing_test_of_a_complete_experiment_is_not_pending(registry, folder):
    """A KeyError with every registered run present is a bug of the test, not a pending claim."""
    res = ln.experiments.Results.load(folder, "anisotropic_d3", scale="paper")
    res.missing = lambda scale=None: []
    with pytest.raises(KeyError):
        registry["large_n"].check(res)
    bad = claims.Claim("bad", "anisotropic_d3", "q", "w", "exp_anisotropic", lambda r: "yes")
    with pytest.raises(TypeError, match="not a Verdict"):
        bad.check(res)


def test_summary_and_scoreboard(registry, folder):
    evaluated = claims.evaluate(folder=folder)
    assert claims.summary(evaluated) == "4 claims of Section 5: 1 reproduced, 1 partly, 0 not reproduced, 2 pending"
    assert claims.summary(evaluated[:1]) == "1 claim of Section 5: 1 reproduced, 0 partly, 0 not reproduced, 0 pending"
    table = claims.scoreboard(evaluated=evaluated).splitlines()
    assert table[0] == "| reproduced | claim (paper) | paper-scale number | where | chapter |"
    assert len(table) == 2 + 4
    first = table[2]
    # one line per claim; a bar in the quote is escaped, line breaks are collapsed
    assert first.startswith("| {bdg-success}`yes` | \u201cThe blob method conserves momentum \\| up to "
                            "round-off.\u201d | **")
    assert first.endswith("| Example 5.2 | {doc}`exp_anisotropic` |")
    assert "momentum drift of blob, n = 100" in first
    assert table[4] == ("| {bdg-secondary}`pending` | \u201cBKW ...\u201d | no paper-scale runs of bkw committed "
                        "yet | Example 5.1 | {doc}`exp_bkw` |")
    assert set(claims.BADGES) == set(claims.VERDICTS)
    assert claims.scoreboard(folder=folder) == "\n".join(table)
    assert all(row.count(" | ") == 4 for row in table[2:])     # five cells each


def test_registered_claims_are_well_formed():
    """The claims the chapters register: a known experiment, a chapter of the book (the
    scoreboard links it with {doc}: a wrong name fails the strict build), the paper's words."""
    from landau_nb.experiments import VLASOV_EXPERIMENTS
    toc = (ROOT / "_toc.yml").read_text()
    for key, c in claims.CLAIMS.items():
        assert c.key == key and (c.experiment in ln.EXPERIMENTS or c.experiment in VLASOV_EXPERIMENTS), key
        assert f"file: book/{c.chapter}.ipynb" in toc, f"claim {key}: chapter {c.chapter!r} is not in _toc.yml"
        assert c.quote.strip() and c.where.strip(), key


def test_registered_claims_give_verdicts_on_the_committed_runs():
    if not (ROOT / "results" / "paper").is_dir():
        pytest.skip("no committed paper-scale runs here (results/paper is absent)")
    if not claims.CLAIMS:
        pytest.skip("no claims registered in landau_nb/book/claims.py yet")
    import warnings
    with warnings.catch_warnings():
        # a warning (a mean over no seeds, say) is a bug of a claim's test, and in a chapter it
        # would store a machine's file path in the notebook's outputs
        warnings.simplefilter("error")
        evaluated = claims.evaluate()
    assert all(isinstance(v, Verdict) for _, v in evaluated)
    assert sum(claims.tally(evaluated).values()) == len(claims.CLAIMS)


# --- initial fits, precondition rows and the verdict changes (issue 21, points 4-6) ----------

def _fit_run(label, n, seed, error, tol=1e-3, steps=20000):
    from types import SimpleNamespace
    meta = {"estimator": {"init": {"relative_error": error, "steps": steps}, "init_tol": tol}}
    return {"label": label, "n": n, "seed": seed}, SimpleNamespace(meta=meta)


def test_init_fits_lists_only_fits_short_of_their_tolerance():
    from types import SimpleNamespace
    from landau_nb.book import scoreboard
    runs = [_fit_run("sbtm", 100, 0, 5e-4), _fit_run("sbtm", 100, 1, 2e-3),
            _fit_run("sbtm", 200, 0, 9e-4), _fit_run("sbtm", 200, 1, 9e-5, tol=1e-4, steps=800),
            ({"label": "blob", "n": 100, "seed": 0}, SimpleNamespace(meta={"estimator": {"eps": 0.1}}))]
    rows = scoreboard.init_fits(SimpleNamespace(runs=runs))
    assert rows == [{"label": "sbtm", "n": 100, "short": 1, "runs": 2, "tol": 1e-3, "steps": 20000,
                     "worst": 2e-3, "best": 5e-4}]


def test_every_committed_initial_fit_reached_its_tolerance():
    """The BKW family's fits (Adam 1e-3, at most 300 000 steps) all reach init_tol; with Adam 1e-2
    and 20 000 steps every n = 12 800 fit stopped short (3.5e-3 to 7.2e-3)."""
    from landau_nb.book import scoreboard
    if not (ROOT / "results" / "paper" / "bkw").is_dir():
        pytest.skip("no committed bkw runs")
    assert scoreboard.init_fits_table() == "*Every committed initial fit reached its tolerance.*"


def test_precondition_rows_are_counted_apart(registry, folder):
    @claims.claim("cond", experiment="anisotropic_d3", where="Example 5.3", kind="precondition",
                  quote="if the two coincide, that trajectory serves as the reference", chapter="exp_coulomb")
    def cond(res):
        return Verdict("gap 1 %", "yes", "within 5 %")
    evaluated = claims.evaluate(["cond"], folder=folder)
    assert claims.summary(evaluated).endswith("1 precondition of the paper's tests: 1 hold, 0 partly, 0 fail, "
                                              "0 pending")
    with pytest.raises(ValueError, match="kind"):
        claims.claim("bad", experiment="anisotropic_d3", where="x", quote="y", chapter="z", kind="guess")


def test_verdict_changes_lists_changed_and_explained_claims(registry, folder):
    from landau_nb.book import scoreboard
    evaluated = claims.evaluate(folder=folder)
    now = {c.key: v.reproduced for c, v in evaluated}
    previous = {"commit": "abc1234", "claims": {k: {"verdict": v} for k, v in now.items()}}
    key = next(iter(now))
    assert scoreboard.verdict_changes(evaluated, previous, {}).count("\n") == 1        # header only
    previous["claims"][key] = {"verdict": "pending"}
    table = scoreboard.verdict_changes(evaluated, previous, {key: "runs  committed\n at last"})
    assert f"| `{key}` | pending | **{now[key]}** | runs committed at last |" in table
    del previous["claims"][key]
    assert f"| `{key}` | new |" in scoreboard.verdict_changes(evaluated, previous, {})
    other = [k for k in now if k != key][0]
    assert f"| `{other}` | {now[other]} | **{now[other]}** | the test reads the sentence as written |" in \
        scoreboard.verdict_changes(evaluated, previous, {other: "the test reads the sentence as written"})


def test_verdict_snapshot_names_every_claim():
    import json
    snap = json.loads((ROOT / "results" / "verdicts" / "previous.json").read_text())
    assert snap["commit"] and set(snap["claims"]) <= set(claims.CLAIMS) | {"coulomb_reference"}
    assert all(v["verdict"] in claims.VERDICTS for v in snap["claims"].values())
