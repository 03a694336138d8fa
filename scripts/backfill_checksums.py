"""Add the SHA-256 of each run's .npz (``npz_sha256``) to the .json of runs written before
checksums were recorded, changing nothing else in the file.

    python scripts/backfill_checksums.py results/paper            # dry run: say what would change
    python scripts/backfill_checksums.py results/paper --write    # do it

A run is blessed with a checksum only when it is trusted otherwise: it loads
(``Trajectory.load``: metadata, arrays and shapes valid), its recorded experiment, label, n,
seed and solver are those of its path (``EXPERIMENT/LABEL/n000100_seed0``), and its .json is
exactly what ``Trajectory.save`` writes (same key order, indentation and numbers), so that
adding one key changes no other byte. Any other file is listed and left alone. Files that
already record a checksum are checked, not rewritten. Exit 1 if a file was left alone or a
checksum does not match.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from landau_nb import EXPERIMENTS, ResultFileError, Trajectory  # noqa: E402
from landau_nb._files import atomic_write  # noqa: E402
from landau_nb.experiments.store import identity_mismatch  # noqa: E402
from landau_nb.experiments.store_names import parse_stem  # noqa: E402
from landau_nb.solver.trajectory import _sha256  # noqa: E402


def _dumps(meta: dict) -> str:
    return json.dumps(meta, indent=1, sort_keys=True, default=float)


def backfill(folder: Path, write: bool) -> tuple[list, list, list]:
    """(added, verified, refused) lists of (json path, note)."""
    added, verified, refused = [], [], []
    for js in sorted(folder.glob("*/*/n*_seed*.json")):
        parsed = parse_stem(js.name)
        experiment, label = js.parent.parent.name, js.parent.name
        if parsed is None or js.name.endswith("-failed.json"):
            continue
        text = js.read_text()
        meta = json.loads(text)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                traj = Trajectory.load(js)
        except (ResultFileError, FileNotFoundError) as exc:
            refused.append((js, f"does not load: {exc}"))
            continue
        known = {sw.label: sw.solver for e in EXPERIMENTS.values() if e.name == experiment
                 for sc in e.scales.values() for sw in sc}
        why = identity_mismatch(traj.meta, experiment, label, *parsed, known.get(label))
        if why is not None:
            refused.append((js, why))
            continue
        if "npz_sha256" in meta:
            verified.append((js, "checksum present and matching"))
            continue
        if _dumps(meta) != text:
            refused.append((js, "not in Trajectory.save's exact format; adding a key would change other bytes"))
            continue
        new = _dumps({**meta, "npz_sha256": _sha256(js.with_suffix(".npz"))})
        if write:
            atomic_write(js, lambda fh: fh.write(new.encode()))
        added.append((js, "checksum added" if write else "would add a checksum"))
    return added, verified, refused


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="a results folder (OUT, holding EXPERIMENT/LABEL/...)")
    p.add_argument("--write", action="store_true", help="write the checksums (default: a dry run)")
    args = p.parse_args(argv)
    if not args.folder.is_dir():
        print(f"{args.folder}: not a folder", file=sys.stderr)
        return 2
    added, verified, refused = backfill(args.folder, args.write)
    for js, why in refused:
        print(f"left alone {js}: {why}", file=sys.stderr)
    print(f"{len(added)} {'checksums added' if args.write else 'files would get a checksum (--write)'}, "
          f"{len(verified)} already verified, {len(refused)} left alone")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
