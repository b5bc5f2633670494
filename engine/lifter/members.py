"""Lifter weights files that hold one trained network or several (an ensemble), and
`python -m engine lifter combine`, which puts the files of separately trained networks into one.

A file written by `lifter train` holds one network: its tensors under their own names and its facts
(architecture, steps, ...) as metadata. A combined file holds each network's tensors under `member<i>.` and
the metadata key `members`: the list of the networks' own metadata. Every member must take the same inputs
and have the same architecture, so that one batch of views can go through each of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import ModelError

# metadata that must agree between members (what the inputs and the network's shape are)
SHARED_KEYS = ("arch", "widths", "channels", "receptive_field", "joints", "keypoints", "nominal_hfov_deg",
               "features", "up_head")


def shared_meta(metas: list[dict], names: list[str]) -> dict:
    """The SHARED_KEYS of the first of `metas`; ModelError naming the first one (`names`) that differs."""
    shared = {k: metas[0].get(k) for k in SHARED_KEYS}
    for name, m in zip(names, metas):
        differ = [k for k in SHARED_KEYS if m.get(k) != shared[k]]
        if differ:
            raise ModelError(f"{name} differs in {', '.join(differ)} from {names[0]}")
    return shared


def read_members(path: str | os.PathLike, framework: str = "numpy") -> tuple[dict, list[tuple[dict, dict]]]:
    """(shared metadata, [(member metadata, member state dict), ...]) from a one- or many-network file.

    framework: "numpy" (arrays; no torch needed) or "pt" (torch tensors, for training).

    Raises ModelError when the file is missing, unreadable, or its members disagree on SHARED_KEYS.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.exists():
        raise ModelError(f"lifter weights not found: {path}")
    try:
        with safe_open(str(path), framework=framework) as fh:
            meta = {k: json.loads(v) for k, v in (fh.metadata() or {}).items()}
            state = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
    except (OSError, SafetensorError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read lifter weights {path}: {exc}") from None
    if "members" not in meta:
        return meta, [(meta, state)]
    members = []
    for i, member_meta in enumerate(meta["members"]):
        prefix = f"member{i}."
        members.append((member_meta, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}))
    if not members or any(not s for _, s in members):
        raise ModelError(f"lifter weights {path}: a member has no tensors")
    shared = shared_meta([m for m, _ in members], [f"lifter weights {path}: member {i}" for i in range(len(members))])
    return shared, members


def combine(paths: list[str | os.PathLike], out: str | os.PathLike) -> dict:
    """Write the networks of `paths` (each a one-network file) as one file `out`; returns its shared metadata."""
    from safetensors.numpy import save

    from ..fileio import atomic_write_bytes

    tensors, metas = {}, []
    for i, p in enumerate(paths):
        _, members = read_members(p)
        if len(members) != 1:
            raise ModelError(f"{p} already holds {len(members)} networks: combine one-network files")
        member_meta, state = members[0]
        metas.append(dict(member_meta, source=Path(p).name))
        tensors.update({f"member{i}.{k}": np.ascontiguousarray(v) for k, v in state.items()})
    meta = dict(shared_meta(metas, [str(p) for p in paths]), members=metas)
    atomic_write_bytes(out, save(tensors, metadata={k: json.dumps(v) for k, v in meta.items()}))
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine lifter combine", description=__doc__.split("\n")[0])
    ap.add_argument("inputs", nargs="+", help="one-network weights files from `lifter train --out`")
    ap.add_argument("--out", required=True, help="the combined weights file to write (.safetensors)")
    args = ap.parse_args(argv)
    try:
        meta = combine(args.inputs, args.out)
    except ModelError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    steps = ", ".join(str(m.get("steps")) for m in meta["members"])
    print(f"{args.out}: {len(meta['members'])} networks ({steps} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
