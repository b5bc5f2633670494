"""BVH motion files: reader (any hierarchy, channel order, position channels on any joint) and writer.

Conventions, as in Blender's bundled importer and most tools:
- A joint's rotation channels are intrinsic Euler angles in degrees, applied in the order listed:
  `Zrotation Xrotation Yrotation` means R = Rz @ Rx @ Ry.
- A joint with position channels takes them as its translation in the parent's frame instead of its OFFSET
  (the Bandai Namco files key 6 channels on every joint). An axis with no channel keeps the OFFSET value.
- World transforms: R_w[j] = R_w[parent] @ R_local[j], p_w[j] = p_w[parent] + R_w[parent] @ t_local[j].

numpy only (imported by the Blender add-on).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import BadInput, FormatError
from ..fileio import atomic_write
from ..quaternion import quat_to_matrix

_AXES = {"x": 0, "y": 1, "z": 2}


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """Intrinsic Euler angles to rotation matrices.

    angles_deg: (..., 3) degrees, angle k about axis order[k]; order: e.g. "ZXY" -> R = Rz @ Rx @ Ry.
    Returns (..., 3, 3) float64.
    """
    a = np.radians(np.asarray(angles_deg, dtype=np.float64))
    out = np.broadcast_to(np.eye(3), a.shape[:-1] + (3, 3)).copy()
    for k, ax in enumerate(order.lower()):
        out = out @ _axis_matrix(a[..., k], _AXES[ax])
    return out


def _axis_matrix(theta: np.ndarray, axis: int) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    m = np.zeros(theta.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m[..., axis, axis] = 1.0
    m[..., i, i] = c
    m[..., j, j] = c
    m[..., i, j] = -s
    m[..., j, i] = s
    return m


def matrix_to_euler(mat: np.ndarray, order: str) -> np.ndarray:
    """Inverse of `euler_to_matrix` for a Tait-Bryan order (three different axes).

    mat: (..., 3, 3) rotation matrices. Returns (..., 3) degrees, angle k about order[k].
    """
    i, j, k = (_AXES[c] for c in order.lower())
    # sign of the permutation (i, j, k): +1 for cyclic orders XYZ, YZX, ZXY
    sign = 1.0 if (j - i) % 3 == 1 else -1.0
    m = np.asarray(mat, dtype=np.float64)
    # R = R_i(a) R_j(b) R_k(c): element [i, k] = sign * sin(b)
    sb = np.clip(sign * m[..., i, k], -1.0, 1.0)
    b = np.arcsin(sb)
    a = np.arctan2(-sign * m[..., j, k], m[..., k, k])
    c = np.arctan2(-sign * m[..., i, j], m[..., i, i])
    # gimbal lock: cos(b) ~ 0, put everything into a
    lock = np.abs(sb) > 1.0 - 1e-9
    if np.any(lock):
        a_l = np.arctan2(sign * m[..., k, j], m[..., j, j])
        a = np.where(lock, a_l, a)
        c = np.where(lock, 0.0, c)
    return np.degrees(np.stack([a, b, c], axis=-1))


@dataclass
class Bvh:
    """A parsed BVH file.

    names: J joint names (End Sites are not joints); parents: (J,) int, -1 for roots;
    offsets: (J, 3) float64 OFFSET of each joint; channels: per joint the channel names as written;
    end_sites: (E,) joint index owning each End Site, end_offsets: (E, 3);
    frame_time: seconds; motion: (T, C) float64, every channel of every frame.
    """

    names: list[str]
    parents: np.ndarray
    offsets: np.ndarray
    channels: list[list[str]]
    end_sites: np.ndarray
    end_offsets: np.ndarray
    frame_time: float
    motion: np.ndarray
    _first_channel: list[int] = field(default_factory=list, repr=False)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time if self.frame_time > 0 else 0.0

    def _joint_channels(self, j: int) -> np.ndarray:
        c0 = self._first_channel[j]
        return self.motion[:, c0:c0 + len(self.channels[j])]

    def local_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """Local rotations (T, J, 3, 3) and translations (T, J, 3) of every joint, every frame."""
        T, J = self.num_frames, len(self.names)
        rot = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
        trans = np.broadcast_to(self.offsets, (T, J, 3)).copy()
        for j in range(J):
            vals = self._joint_channels(j)
            order, angle_cols = "", []
            for c, ch in enumerate(self.channels[j]):
                kind, axis = ch[1:].lower(), _AXES[ch[0].lower()]
                if kind == "position":
                    trans[:, j, axis] = vals[:, c]
                else:
                    order += ch[0]
                    angle_cols.append(c)
            if order:
                rot[:, j] = euler_to_matrix(vals[:, angle_cols], order)
        return rot, trans

    def world_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """World rotations (T, J, 3, 3) and positions (T, J, 3), in the file's units and axes."""
        rot, trans = self.local_transforms()
        wr = np.empty_like(rot)
        wp = np.empty_like(trans)
        for j, p in enumerate(self.parents):
            if p < 0:
                wr[:, j], wp[:, j] = rot[:, j], trans[:, j]
            else:
                wr[:, j] = wr[:, p] @ rot[:, j]
                wp[:, j] = wp[:, p] + np.einsum("tab,tb->ta", wr[:, p], trans[:, j])
        return wr, wp

    def world_positions(self) -> np.ndarray:
        """(T, J, 3) float64 world joint positions (file units)."""
        return self.world_transforms()[1]

    def end_site_positions(self) -> np.ndarray:
        """(T, E, 3) float64 world positions of the End Sites."""
        wr, wp = self.world_transforms()
        e = self.end_sites
        return wp[:, e] + np.einsum("teab,eb->tea", wr[:, e], self.end_offsets)


def _parse_floats(tokens: list[str], lineno: int, what: str) -> list[float]:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        got = " ".join(tokens)
        raise FormatError(f"BVH line {lineno}: expected numbers in {what}, got {got!r}") from None


def parse_bvh(text: str, source: str = "BVH") -> Bvh:
    """Parse BVH text. Raises FormatError naming the line of the first problem."""
    lines = text.splitlines()
    n = len(lines)
    i = 0

    def next_tokens() -> tuple[int, list[str]]:
        nonlocal i
        while i < n:
            toks = lines[i].split()
            i += 1
            if toks:
                return i, toks
        raise FormatError(f"{source}: unexpected end of file at line {n}")

    ln, toks = next_tokens()
    if toks[0].upper() != "HIERARCHY":
        raise FormatError(f"{source} line {ln}: expected HIERARCHY, got {toks[0]!r}")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    end_sites: list[int] = []
    end_offsets: list[list[float]] = []
    stack: list[int] = []  # joint index per open brace; -2 marks an End Site block
    pending: str | None = None  # "joint" or "end" waiting for its "{"
    total_channels = 0
    while True:
        ln, toks = next_tokens()
        key = toks[0].upper()
        if key in ("ROOT", "JOINT"):
            if key == "JOINT" and not stack:
                raise FormatError(f"{source} line {ln}: JOINT outside of any ROOT")
            if stack and stack[-1] == -2:
                raise FormatError(f"{source} line {ln}: JOINT inside an End Site")
            if len(toks) < 2:
                raise FormatError(f"{source} line {ln}: {toks[0]} without a name")
            names.append(" ".join(toks[1:]))
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append([])
            pending = "joint"
        elif key == "END":
            if not stack or stack[-1] == -2:
                raise FormatError(f"{source} line {ln}: End Site outside of a joint")
            end_sites.append(stack[-1])
            end_offsets.append([0.0, 0.0, 0.0])
            pending = "end"
        elif key == "{":
            if pending is None:
                raise FormatError(f"{source} line {ln}: unexpected '{{'")
            stack.append(len(names) - 1 if pending == "joint" else -2)
            pending = None
        elif key == "}":
            if not stack:
                raise FormatError(f"{source} line {ln}: unmatched '}}'")
            stack.pop()
        elif key == "OFFSET":
            if not stack:
                raise FormatError(f"{source} line {ln}: OFFSET outside of a joint")
            vals = _parse_floats(toks[1:], ln, "OFFSET")
            if len(vals) != 3:
                raise FormatError(f"{source} line {ln}: OFFSET needs 3 numbers, got {len(vals)}")
            if stack[-1] == -2:
                end_offsets[-1] = vals
            else:
                offsets[stack[-1]] = vals
        elif key == "CHANNELS":
            if not stack or stack[-1] == -2:
                raise FormatError(f"{source} line {ln}: CHANNELS outside of a joint")
            try:
                count = int(toks[1])
            except (IndexError, ValueError):
                raise FormatError(f"{source} line {ln}: CHANNELS needs a count") from None
            chans = toks[2:]
            if len(chans) != count:
                raise FormatError(f"{source} line {ln}: CHANNELS says {count} but lists {len(chans)}")
            for ch in chans:
                kind = ch[1:].lower()
                if len(ch) != 9 or ch[0].lower() not in _AXES or kind not in ("position", "rotation"):
                    raise FormatError(f"{source} line {ln}: unknown channel {ch!r}")
            rot_axes = [c[0].lower() for c in chans if c[1:].lower() == "rotation"]
            if len(rot_axes) not in (0, 3) or len(set(rot_axes)) != len(rot_axes):
                raise FormatError(f"{source} line {ln}: rotation channels must be three different axes")
            channels[stack[-1]] = chans
            total_channels += count
        elif key == "MOTION":
            if stack:
                raise FormatError(f"{source} line {ln}: MOTION before the hierarchy is closed")
            break
        else:
            raise FormatError(f"{source} line {ln}: unexpected {toks[0]!r} in HIERARCHY")
    if not names:
        raise FormatError(f"{source}: no joints in HIERARCHY")

    ln, toks = next_tokens()
    if toks[0].lower() != "frames:" or len(toks) != 2 or not (toks[1].isascii() and toks[1].isdigit()):
        raise FormatError(f"{source} line {ln}: expected 'Frames: N'")
    num_frames = int(toks[1])
    ln, toks = next_tokens()
    if len(toks) != 3 or toks[0].lower() != "frame" or toks[1].lower() != "time:":
        raise FormatError(f"{source} line {ln}: expected 'Frame Time: seconds'")
    frame_time = _parse_floats(toks[2:], ln, "Frame Time")[0]
    if not (np.isfinite(frame_time) and frame_time >= 0):
        raise FormatError(f"{source} line {ln}: Frame Time {toks[2]} is not a duration in seconds")

    rows = [(k + 1, line) for k, line in enumerate(lines[i:], start=i) if line.strip()]
    if len(rows) < num_frames:
        raise FormatError(f"{source}: header says {num_frames} frames but the file has {len(rows)}")
    motion = np.empty((num_frames, total_channels), dtype=np.float64)
    try:
        data = np.array(" ".join(r[1] for r in rows[:num_frames]).split(), dtype=np.float64)
        ok = data.size == num_frames * total_channels
    except ValueError:
        ok = False
    if ok:
        motion[:] = data.reshape(num_frames, total_channels)
    else:  # find the offending line for the message
        for f, (ln, line) in enumerate(rows[:num_frames]):
            vals = _parse_floats(line.split(), ln, "motion data")
            if len(vals) != total_channels:
                raise FormatError(f"{source} line {ln}: {len(vals)} values, expected {total_channels}")
            motion[f] = vals
    first, c = [], 0
    for ch in channels:
        first.append(c)
        c += len(ch)
    return Bvh(names, np.array(parents, dtype=np.int64), np.array(offsets, dtype=np.float64), channels,
               np.array(end_sites, dtype=np.int64), np.array(end_offsets, dtype=np.float64).reshape(-1, 3),
               frame_time, motion, first)


def read_bvh(path: str | os.PathLike) -> Bvh:
    """Read a BVH file. FormatError (with the line) if it is malformed, BadInput if it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        raise BadInput(f"cannot read BVH {os.fspath(path)}: {exc.strerror}") from None
    return parse_bvh(text, source=os.path.basename(os.fspath(path)))


def _storable_name(name: str) -> bool:
    """A name our reader (and others) reads back as written: no whitespace, braces or control characters."""
    return bool(name) and name.isprintable() and not any(c.isspace() or c in "{}" for c in name)


def write_bvh(path: str | os.PathLike, joint_names: list[str], parents: np.ndarray, rest_offsets: np.ndarray,
              rotations: np.ndarray, root_positions: np.ndarray, fps: float, order: str = "ZXY",
              end_length: float = 0.05) -> None:
    """Write a motion as BVH (atomic).

    joint_names: J names; parents: (J,) int, parent before child, one root (-1) first;
    rest_offsets: (J, 3) joint offsets from the parent, the root's is ignored (its position is keyed);
    rotations: (T, J, 4) local quaternions w, x, y, z; root_positions: (T, 3), same units as the offsets.
    The root gets 6 channels (position + rotation), the others 3 rotation channels in `order`.
    Joints with no children get an End Site `end_length` along their own offset's direction.
    BadInput, before anything is written: fps not positive, joint names BVH cannot store (whitespace,
    braces, control characters, duplicates), NaN or infinite values, an unwritable target.
    """
    fps = float(fps)
    if not (np.isfinite(fps) and fps > 0):
        raise BadInput(f"cannot write BVH: frame rate {fps:g} must be a positive number")
    if len(order) != 3 or sorted(order.lower()) != ["x", "y", "z"]:
        raise BadInput(f"cannot write BVH: rotation order {order!r} must name X, Y and Z once each")
    bad = [n for n in joint_names if not _storable_name(n)]
    if bad:
        shown = ", ".join(repr(n) for n in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise BadInput(f"cannot write BVH: joint names {shown} contain spaces, braces or control characters "
                       f"(or are empty), which BVH cannot store; rename those bones")
    if len(set(joint_names)) != len(joint_names):
        raise BadInput("cannot write BVH: two joints have the same name; BVH names must differ")
    parents = np.asarray(parents, dtype=np.int64)
    rest = np.asarray(rest_offsets, dtype=np.float64)
    rot = np.asarray(rotations, dtype=np.float64)
    root = np.asarray(root_positions, dtype=np.float64)
    for what, arr in (("rotations", rot), ("root positions", root), ("rest offsets", rest)):
        if not np.isfinite(arr).all():
            where = np.argwhere(~np.isfinite(arr))[0]
            raise BadInput(f"cannot write BVH: {what} hold NaN or infinite values (first at index "
                           f"{tuple(int(i) for i in where)}); clean the motion first")
    J = len(joint_names)
    if parents.shape != (J,) or rest.shape != (J, 3) or rot.ndim != 3 or rot.shape[1:] != (J, 4):
        raise ValueError("write_bvh: shapes of names, parents, rest_offsets, rotations disagree")
    T = rot.shape[0]
    if root.shape != (T, 3):
        raise ValueError("write_bvh: root_positions must be (T, 3)")
    if parents[0] != -1 or np.any(parents[1:] < 0) or np.any(parents[1:] >= np.arange(1, J)):
        raise ValueError("write_bvh: joint 0 must be the only root and parents must come before children")
    children: list[list[int]] = [[] for _ in range(J)]
    for j in range(1, J):
        children[parents[j]].append(j)
    axis_names = {"x": "Xrotation", "y": "Yrotation", "z": "Zrotation"}
    rot_channels = " ".join(axis_names[c] for c in order.lower())
    out: list[str] = ["HIERARCHY"]

    def emit(j: int, depth: int) -> None:
        pad = "  " * depth
        off = np.zeros(3) if j == 0 else rest[j]
        out.append(f"{pad}{'ROOT' if j == 0 else 'JOINT'} {joint_names[j]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}")
        if j == 0:
            out.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {rot_channels}")
        else:
            out.append(f"{pad}  CHANNELS 3 {rot_channels}")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j]:
            n = np.linalg.norm(off)
            tip = off / n * end_length if n > 1e-9 else np.array([0.0, end_length, 0.0])
            out.append(f"{pad}  End Site")
            out.append(f"{pad}  {{")
            out.append(f"{pad}    OFFSET {tip[0]:.6f} {tip[1]:.6f} {tip[2]:.6f}")
            out.append(f"{pad}  }}")
        out.append(f"{pad}}}")

    emit(0, 0)
    # channel columns in hierarchy (depth-first) order, which is how readers assign them
    dfs: list[int] = []
    stack = [0]
    while stack:
        j = stack.pop()
        dfs.append(j)
        stack.extend(reversed(children[j]))
    eul = matrix_to_euler(quat_to_matrix(rot), order)  # (T, J, 3)
    cols = [root] + [eul[:, j] for j in dfs]
    motion = np.concatenate(cols, axis=1)
    out.append("MOTION")
    out.append(f"Frames: {T}")
    out.append(f"Frame Time: {1.0 / fps:.8f}")
    body = "\n".join(" ".join(f"{v:.6f}" for v in row) for row in motion)
    with atomic_write(path, "w") as fh:
        fh.write("\n".join(out) + "\n" + body + "\n")
