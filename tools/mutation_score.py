"""Mutation testing of the pure modules: the domain policy and the alert-destination parser.

    .venv/bin/python tools/mutation_score.py

Runs mutmut from backend/, where its ``[mutmut]`` section (backend/setup.cfg)
names what is mutated (ops_api/domain/ and ops_api/adapters/alert_destinations.py)
and the tests that must notice (tests/unit only). Each run starts from scratch,
so no result is carried over from older code or tests. Prints the score and
exits 1 when a mutant is not killed and backend/tests/unit/equivalent_mutants.toml
does not list it as equivalent, or when an entry there no longer names a
surviving mutant with the mutated line it gives (the code moved: judge it again).
The mutants stay in backend/mutants/ for ``mutmut show NAME`` until the next run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[1] / "backend"
EQUIVALENTS = BACKEND / "tests" / "unit" / "equivalent_mutants.toml"
MUTMUT = str(Path(sys.executable).with_name("mutmut"))
RESULT = re.compile(r"^\s*(\S+): (.+)$")


def mutmut(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MUTMUT, *args], cwd=BACKEND, capture_output=True, text=True, check=False)


def mutated_line(name: str) -> str:
    """The line the mutant ``name`` puts in place of the original, as ``mutmut show`` gives it."""
    shown = mutmut("show", name).stdout.splitlines()
    added = [line[1:].strip() for line in shown if line.startswith("+") and not line.startswith("+++")]
    return " / ".join(added)


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(BACKEND / "mutants", ignore_errors=True)
    run = mutmut("run")
    if run.returncode != 0:
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n")
        print(f"mutation: mutmut run failed (exit {run.returncode})")
        return 1
    listed = mutmut("results", "--all", "true")
    status = dict(match.groups() for line in listed.stdout.splitlines() if (match := RESULT.match(line)))
    if not status:
        print(listed.stdout[-3000:], listed.stderr[-3000:], sep="\n")
        print("mutation: mutmut listed no mutants")
        return 1
    equivalents = tomllib.loads(EQUIVALENTS.read_text())
    killed = [name for name, outcome in status.items() if outcome == "killed"]
    not_killed = {name: outcome for name, outcome in status.items() if outcome != "killed"}
    unexplained = {name: outcome for name, outcome in not_killed.items() if name not in equivalents}
    stale = [
        name
        for name, entry in equivalents.items()
        if not_killed.get(name) != "survived" or mutated_line(name) != entry["mutated"]
    ]
    seconds = time.monotonic() - started
    print(
        f"mutation: {len(killed)} of {len(status)} mutants killed ({100 * len(killed) / len(status):.1f}%), "
        f"{len(not_killed) - len(unexplained)} equivalent (listed), {len(unexplained)} unexplained, in {seconds:.0f} s"
    )
    for name, outcome in sorted(unexplained.items()):
        print(f"mutation: {outcome}: {name}: {mutated_line(name)}")
    for name in stale:
        print(f"mutation: stale entry in {EQUIVALENTS.relative_to(BACKEND.parent)}: {name} is no longer that surviving mutant")
    if unexplained:
        print("mutation: kill each with a unit test (see `mutmut show NAME` in backend/), or list it as equivalent with its reason")
    return 1 if unexplained or stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
