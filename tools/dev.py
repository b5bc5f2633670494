#!/usr/bin/env python3
"""Set up and run Monocap on a fresh machine with nothing but Python 3.11 and pip (standard library only).

    python3 tools/dev.py demo   # engine venv, models, capture of the bundled sample -> out/
    python3 tools/dev.py test   # engine venv + two Blender (bpy) venvs, then the whole test suite, the
                                # tests in a real Blender window included (test-ui)
    python3 tools/dev.py test-ui    # only the tests in a real Blender window (tests/ui): Debian's Blender in
                                    # a debootstrap chroot under Xvfb (root and debootstrap needed; the
                                    # chroot is built once into ~/.cache/monocap/ui-chroot-trixie)
    python3 tools/dev.py test-gpu   # the CUDA tests (tests/gpu), on a machine with an NVIDIA GPU only
    python3 tools/dev.py fuzz [--minutes N] [--examples E]   # the readers' fuzz tests, long: runs of E
                                    # examples per test with fresh seeds until N minutes have passed

Environments (created once, reused): .venv-cpu (the engine's `cpu` install profile, engine/requirements.txt:
no torch; the demo runs there), .venv (the `gpu` profile, engine/requirements-gpu.txt, which adds torch, plus
the Ray extra of `engine batch` (engine/requirements-ray.txt) and the test tools: the test suite runs there,
and tests/test_cpu_profile.py captures in .venv-cpu), .venv-blender50 (bpy 5.0.1) and .venv-blender42 (bpy 4.2
LTS). Pins live in engine/requirements*.txt and tests/requirements*.txt.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENVS = {
    "cpu": (ROOT / ".venv-cpu", ["engine/requirements.txt"]),
    # requirements-ray.txt: the optional extra of `engine batch --ray`, which the tests run on a local cluster
    "engine": (ROOT / ".venv", ["engine/requirements-gpu.txt", "engine/requirements-ray.txt",
                                "tests/requirements.txt"]),
    "blender50": (ROOT / ".venv-blender50", ["tests/requirements-blender50.txt"]),
    "blender42": (ROOT / ".venv-blender42", ["tests/requirements-blender42.txt"]),
}
SAMPLE = ROOT / "samples" / "pose2sim_cam01.mp4"
GENE = ROOT / "assets" / "gene" / "Gene.pmx"


def python_of(env: Path) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def run(cmd: list, **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, **kw)


def requirements_text(path: Path) -> str:
    """A requirements file with the files it includes (`-r other.txt`) written out in place."""
    lines = []
    for line in path.read_text().splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in ("-r", "--requirement"):
            lines.append(requirements_text(path.parent / words[1]))
        else:
            lines.append(line)
    return "\n".join(lines)


def ensure_env(name: str) -> Path:
    """Create the venv and install its pinned requirements (pip skips what is already there)."""
    env, reqs = ENVS[name]
    py = python_of(env)
    stamp = env / ".monocap-requirements"
    wanted = "\n".join(requirements_text(ROOT / r) for r in reqs)
    if py.exists() and stamp.exists() and stamp.read_text() != wanted:
        # pins changed: made again from nothing, since pip never removes a package the pins dropped
        print(f"requirements changed: making {env.name} again", flush=True)
        shutil.rmtree(env)
    if not py.exists():
        print(f"creating {env.name}", flush=True)
        venv.create(env, with_pip=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        args = [py, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
        for r in reqs:
            args += ["-r", ROOT / r]
        if run(args) != 0:
            sys.exit(f"error: installing {', '.join(reqs)} into {env.name} failed (see pip's message above)")
        stamp.write_text(wanted)
    return py


def demo() -> int:
    py = ensure_env("cpu")
    out = ROOT / "out"
    out.mkdir(exist_ok=True)
    cmd = [py, "-m", "engine", "capture", SAMPLE, "-o", out / "demo_take.npz",
           "--overlay", out / "demo_overlay.mp4", "--bvh", out / "demo.bvh"]
    cmd += ["--vmd", out / "demo_gene.vmd", "--rig", GENE]
    rc = run(cmd)
    if rc == 0:
        print(f"\nresults in {out}: " + ", ".join(sorted(p.name for p in out.glob("demo*"))))
    return rc


SUMMARY = re.compile(r"=+ (.*) in [\d.]+s")


def _pytest(py: Path, args: list[str], env: dict | None = None) -> tuple[int, dict[str, int]]:
    """Run pytest, echo its output, return its exit code and the counts from its closing line."""
    proc = subprocess.Popen([str(py), "-m", "pytest", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        if SUMMARY.search(line):
            last = line
    rc = proc.wait()
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|failed|errors?|skipped)", last)}
    return rc, counts


def test() -> int:
    pys = {name: ensure_env(name) for name in ENVS}
    # Tests never skip for a missing dependency: a skip is counted as a failure below.
    runs = [
        ("engine", pys["engine"], ["tests", "--ignore=tests/blender", "--ignore=tests/gpu", "--ignore=tests/ui",
                                  "-p", "no:cacheprovider"]),
        ("blender 5.0", pys["blender50"], ["tests/blender", "-p", "no:cacheprovider"]),
        ("blender 4.2", pys["blender42"], ["tests/blender", "-p", "no:cacheprovider"]),
        ui_suite(pys["engine"]),
    ]
    total = {"passed": 0, "failed": 0}
    worst = 0
    for label, py, args in runs:
        print(f"\n===== tests: {label} =====", flush=True)
        rc, counts = _pytest(py, args)
        total["passed"] += counts.get("passed", 0)
        bad = counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0) + counts.get("skipped", 0)
        total["failed"] += bad
        if rc != 0 or bad or not counts.get("passed"):
            worst = 1
            print(f"!! {label}: pytest exit code {rc}, {counts}", flush=True)
    print("\n===== lint: ruff check . =====", flush=True)
    if run([pys["engine"], "-m", "ruff", "check", "."]) != 0:
        worst = 1
        total["failed"] += 1
    print(f"\n{total['passed']} passed, {total['failed']} failed")
    return worst


def ui_suite(py: Path) -> tuple[str, Path, list[str]]:
    """The row of test()'s table for tests/ui."""
    return ("real Blender window", py, ["tests/ui", "-p", "no:cacheprovider", "-s"])


def test_ui() -> int:
    """The tests in a real Blender window (tests/ui); a chroot that cannot be built is a failure."""
    label, py, args = ui_suite(ensure_env("engine"))
    rc, counts = _pytest(py, args)
    bad = sum(counts.get(k, 0) for k in ("failed", "error", "errors", "skipped"))
    return 1 if rc != 0 or bad or not counts.get("passed") else 0


def test_gpu() -> int:
    """The CUDA tests (tests/gpu) in the engine venv, on a machine whose torch sees an NVIDIA GPU."""
    rc, counts = _pytest(ensure_env("engine"), ["tests/gpu", "-p", "no:cacheprovider"])
    bad = sum(counts.get(k, 0) for k in ("failed", "error", "errors", "skipped"))
    return 1 if rc != 0 or bad or not counts.get("passed") else 0


def fuzz(argv: list[str]) -> int:
    """The property-based fuzz tests of every reader (take, BVH, VMD, PMX), run again and again with new
    seeds and `--examples` inputs per test until `--minutes` have passed; any escape fails the run."""
    import argparse
    import random
    import time

    ap = argparse.ArgumentParser(prog="tools/dev.py fuzz")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--examples", type=int, default=5000)
    args = ap.parse_args(argv)
    py = ensure_env("engine")
    env = dict(os.environ, MONOCAP_FUZZ_EXAMPLES=str(args.examples))
    tests = ["tests/test_hostile_input.py", "tests/test_mmd_fuzz.py", "-k", "fuzz", "-p", "no:cacheprovider", "-q"]
    stop, runs, total = time.monotonic() + 60 * args.minutes, 0, 0
    while time.monotonic() < stop:
        seed = random.randrange(2 ** 32)
        rc, counts = _pytest(py, tests + [f"--hypothesis-seed={seed}"], env=env)
        runs += 1
        total += counts.get("passed", 0) * args.examples
        print(f"fuzz run {runs} (seed {seed}): {counts}; about {total} inputs so far", flush=True)
        if rc != 0:
            print(f"an escape: rerun with --hypothesis-seed={seed} to see it")
            return 1
    return 0


def main() -> int:
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "fuzz":
        return fuzz(sys.argv[2:])
    if what == "demo":
        return demo()
    if what == "test":
        return test()
    if what == "test-ui":
        return test_ui()
    if what == "test-gpu":
        return test_gpu()
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
