"""Blender bake bench: runs tools/bench_bake.py under each Blender test environment (.venv-blender50,
.venv-blender42) that exists, since the engine's Python has no bpy. 10,000 frames x 22 bones,
`keyframe_points.add` + `foreach_set` against the naive `keyframe_insert` loop."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENVS = {"Blender 5.0": ".venv-blender50", "Blender 4.2": ".venv-blender42"}


def run() -> list[dict]:
    rows = []
    for label, env in ENVS.items():
        py = ROOT / env / "bin" / "python"
        if not py.exists():
            rows.append({"name": f"bake ({label}): no {env}", "value": float("nan"), "unit": "",
                         "note": "python3 tools/dev.py test sets it up"})
            continue
        r = subprocess.run([str(py), str(ROOT / "tools" / "bench_bake.py")], cwd=ROOT, capture_output=True,
                           text=True, timeout=900, check=False)
        if r.returncode != 0:
            rows.append({"name": f"bake ({label}): FAILED", "value": float("nan"), "unit": "",
                         "note": (r.stderr.strip().splitlines() or [""])[-1][:80]})
            continue
        for line in r.stdout.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                row["name"] = f"{row['name']} ({label})"
                rows.append(row)
    return rows
