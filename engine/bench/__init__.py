"""`python -m engine bench`: speed and memory of every stage, printed as one table.

Each module here exposes `run() -> list[dict]` with rows {"name", "value", "unit", "note"}. Benches run
one after another in this process, except where a module measures in subprocesses of its own (peak
memory, the peer, Blender). Speed targets are checked here, never by timed tests.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback

BENCHES = ("capture", "hands", "tflite", "lifter", "vmd", "bake", "batch")


def run_bench(only: list[str] | None = None, json_out: str | None = None) -> int:
    names = only or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown bench {', '.join(unknown)}; choose from {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    rows: list[dict] = []
    failed = []
    for name in names:
        t0 = time.perf_counter()
        print(f"# {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f".{name}", __name__)
            got = module.run()
        except Exception as exc:  # a bench that breaks is reported, the others still run
            traceback.print_exc()
            failed.append(name)
            got = [{"name": f"{name}: FAILED", "value": float("nan"), "unit": "", "note": str(exc)[:80]}]
        for r in got:
            r.setdefault("bench", name)
        rows += got
        _print(got)
        print(f"# {name} took {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    if json_out:
        with open(json_out, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1, ensure_ascii=False)
    return 1 if failed else 0


def _print(rows: list[dict]) -> None:
    for r in rows:
        v = r["value"]
        if isinstance(v, float) and abs(v) < 10 and r["unit"] in ("share", "x", "px"):
            value = f"{v:.2f}"  # shares and ratios need their second decimal
        else:
            value = f"{v:,.1f}" if isinstance(v, float) and abs(v) < 1e6 else f"{v:,.0f}"
        print(f"{r['name']:<52} {value:>14} {r['unit']:<12} {r.get('note', '')}", flush=True)
