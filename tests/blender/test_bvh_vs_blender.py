"""The engine's BVH reader and writer agree with Blender's own BVH importer (io_anim_bvh), headless.

Run: .venv-blender50/bin/python -m pytest tests/blender/test_bvh_vs_blender.py (or .venv-blender42).
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
import pytest
from mathutils import Matrix

from engine import skeleton as sk
from engine.formats.bvh import read_bvh, write_bvh
from engine.motion.rotations import forward_kinematics

MOCAP = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mocap"
FILES = [
    MOCAP / "bandai-namco-1" / "dataset-1_dance-short_normal_001.bvh",
    MOCAP / "bandai-namco-1" / "dataset-1_kick_normal_001.bvh",
    MOCAP / "bandai-namco-2" / "dataset-2_walk-turn-left_elderly_004.bvh",
]


def blender_heads(path: Path, frames: list[int]) -> tuple[list[str], np.ndarray]:
    """Import with Blender's importer (no axis conversion) and read every pose bone's head per frame.

    Returns bone names and (len(frames), J, 3) positions in the armature's space = the file's space.
    """
    from io_anim_bvh import import_bvh

    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    import_bvh.load(bpy.context, str(path), global_matrix=Matrix.Identity(4), frame_start=1,
                    use_fps_scale=False, update_scene_duration=True)
    ob = bpy.context.view_layer.objects.active
    assert ob is not None and ob.type == "ARMATURE"
    names = [pb.name for pb in ob.pose.bones]
    out = np.zeros((len(frames), len(names), 3))
    scene = bpy.context.scene
    for i, f in enumerate(frames):
        scene.frame_set(1 + f)  # the importer keys file frame f at scene frame frame_start + f
        out[i] = [tuple(pb.head) for pb in ob.pose.bones]
    return names, out


def assert_agree(ours: np.ndarray, theirs: np.ndarray) -> None:
    """Relative error per joint position: |ours - blender| / max(|ours|, 1 unit) <= 1e-4."""
    err = np.linalg.norm(ours - theirs, axis=-1)
    rel = err / np.maximum(np.linalg.norm(ours, axis=-1), 1.0)
    assert rel.max() <= 1e-4, f"max relative error {rel.max():.2e} (absolute {err.max():.4f})"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_reader_matches_blender(path: Path) -> None:
    bvh = read_bvh(path)
    frames = list(range(0, bvh.num_frames, max(1, bvh.num_frames // 40)))
    names, heads = blender_heads(path, frames)
    ours = bvh.world_positions()[frames]
    order = [bvh.names.index(n) for n in names]
    assert sorted(names) == sorted(bvh.names)
    assert_agree(ours[:, order], heads)
    # the motion really moves: a reader that ignored the channels would not agree
    assert np.ptp(heads[:, names.index("Hand_L")], axis=0).max() > 5.0


def test_written_canonical_motion_imports_the_same(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    T = 12
    q = rng.normal(size=(T, sk.J, 4))
    q[..., 0] += 1.5
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    root = rng.normal(size=(T, 3)) * 0.5
    joints, _ = forward_kinematics(sk.REST_OFFSETS, q, root)
    path = tmp_path / "canonical.bvh"
    write_bvh(path, sk.JOINT_NAMES, sk.PARENTS, sk.REST_OFFSETS, q, root, fps=30.0)
    names, heads = blender_heads(path, list(range(T)))
    order = [sk.JOINT_NAMES.index(n) for n in names]
    err = np.linalg.norm(joints[:, order] - heads, axis=-1)
    assert err.max() < 1e-4  # metres
