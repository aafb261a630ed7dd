"""Run the test suite on a busy machine: N CPU-bound processes spin beside it.

    python bench/suite_under_load.py [--runs 3] [--burners 4] [-- PYTEST ARGS]

Each run is `python -m pytest` (the README's test command, after its `pip install`) with the
burners running for its whole length; the script prints each run's time, its pytest summary
line, and the failing tests. Exit status 1 if any run failed. The burners are plain busy
loops at the same priority as the suite, so on 2 cores the suite gets about a third of the
CPU it gets on a quiet machine.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _burn() -> None:
    while True:
        pass


def _summary(output: str) -> str:
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    return lines[-1].strip("= ") if lines else "(no summary line)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--burners", type=int, default=4)
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(args.burners)]
    for burner in burners:
        burner.start()
    failed_runs = 0
    try:
        for run in range(1, args.runs + 1):
            started = time.monotonic()
            command = [sys.executable, "-m", "pytest", "-q", "-rf", "-p", "no:cacheprovider"]
            result = subprocess.run(
                [*command, *args.pytest_args],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            seconds = time.monotonic() - started
            failures = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
            failed_runs += result.returncode != 0
            print(f"run {run}: {seconds:.0f} s, {_summary(result.stdout)}", flush=True)
            for line in failures:
                print(f"  {line}", flush=True)
    finally:
        for burner in burners:
            burner.terminate()
    print(f"{args.runs - failed_runs} of {args.runs} runs passed with {args.burners} burners")
    return 1 if failed_runs else 0


if __name__ == "__main__":
    sys.exit(main())
