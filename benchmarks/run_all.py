"""Run every ``bench_*.py`` in this folder, one after the other, and collect the tables.

Each benchmark runs in its own process (so one's imports, threads and memory do not
colour the next), with its default settings unless ``--args`` says otherwise, and
its output goes into one markdown report, printed and optionally written to a file.
A benchmark that fails or exceeds ``--timeout`` is reported as such and the rest
still run; the exit status is 1 if any did.

Usage::

    python benchmarks/run_all.py                               # everything
    python benchmarks/run_all.py --only tutorial regression    # names containing these
    python benchmarks/run_all.py --out results.md \\
        --args "bench_classify=--epochs 2 --train 5000"
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover(only: list[str], skip: list[str]) -> list[Path]:
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        scripts = [p for p in scripts if any(s in p.stem for s in only)]
    return [p for p in scripts if not any(s in p.stem for s in skip)]


def parse_args_overrides(items: list[str]) -> dict[str, list[str]]:
    """``["bench_x=--a 1 --b"]`` → ``{"bench_x": ["--a", "1", "--b"]}``."""
    out = {}
    for item in items:
        name, sep, rest = item.partition("=")
        if not sep:
            raise SystemExit(f"--args takes NAME=ARGUMENTS, e.g. 'bench_tutorial=--repeats 5', "
                             f"got {item!r}")
        out[Path(name).stem] = shlex.split(rest)
    return out


def run_one(script: Path, extra: list[str], timeout: float) -> tuple[str, int, float]:
    """(output, exit status, seconds); status 124 when it ran out of time."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(script), *extra], capture_output=True,
                              text=True, timeout=timeout, cwd=HERE.parent)
        out = proc.stdout + (f"\n[stderr]\n{proc.stderr.strip()}\n" if proc.returncode else "")
        code = proc.returncode
    except subprocess.TimeoutExpired as e:
        partial = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        out, code = partial + f"\n[stopped after {timeout:.0f} s]\n", 124
    return out, code, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=[], help="run only names containing these")
    ap.add_argument("--skip", nargs="*", default=[], help="skip names containing these")
    ap.add_argument("--args", action="append", default=[], metavar="NAME=ARGS",
                    help="extra arguments for one benchmark (repeatable)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per benchmark")
    ap.add_argument("--out", type=Path, help="also write the report to this file")
    args = ap.parse_args(argv)
    overrides = parse_args_overrides(args.args)
    scripts = discover(args.only, args.skip)
    if not scripts:
        raise SystemExit("no benchmark matches; the folder has: "
                         + ", ".join(p.stem for p in sorted(HERE.glob("bench_*.py"))))
    sections, summary, failed = [], [], 0
    for script in scripts:
        extra = overrides.get(script.stem, [])
        cmd = " ".join(["python", f"benchmarks/{script.name}", *extra])
        print(f"running {cmd} ...", file=sys.stderr, flush=True)
        out, code, secs = run_one(script, extra, args.timeout)
        status = "ok" if code == 0 else ("timed out" if code == 124 else f"exit {code}")
        failed += code != 0
        summary.append(f"| `{cmd}` | {status} | {secs:.0f} s |")
        sections.append(f"# {script.stem}\n\n`{cmd}`\n\n{out.strip()}\n")
    report = "\n".join(sections) + "\n# Summary\n\n| benchmark | status | wall time |\n" \
        "|---|---|---|\n" + "\n".join(summary) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
