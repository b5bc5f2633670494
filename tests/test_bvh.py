"""BVH reader and writer: channel orders, position channels on any joint, End Sites, errors with lines."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from engine import skeleton as sk
from engine.errors import BadInput, FormatError
from engine.formats.bvh import _axis_matrix, euler_to_matrix, matrix_to_euler, parse_bvh, read_bvh, write_bvh
from engine.motion.rotations import forward_kinematics

MOCAP = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mocap"

SMALL = """HIERARCHY
ROOT r
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT a
  {
    OFFSET 1 0 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    JOINT b
    {
      OFFSET 0 5 0
      CHANNELS 6 Yrotation Xposition Zrotation Yposition Xrotation Zposition
      End Site
      {
        OFFSET 0 0 1
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
1 2 3 90 0 0   0 0 0   0 2 0 0 0 0
0 0 0 0 0 0   0 0 90  0 0 0 0 0 0
"""


def test_small_hierarchy_by_hand() -> None:
    b = parse_bvh(SMALL)
    assert b.names == ["r", "a", "b"] and list(b.parents) == [-1, 0, 1]
    assert b.fps == pytest.approx(25.0)
    p = b.world_positions()
    # frame 0: root at (1,2,3) turned 90 deg about Z; a one unit along the turned X; b's position
    # channels (2, 0, 0) replace its OFFSET (0, 5, 0)
    np.testing.assert_allclose(p[0], [[1, 2, 3], [1, 3, 3], [1, 5, 3]], atol=1e-12)
    np.testing.assert_allclose(b.end_site_positions()[0], [[1, 5, 4]], atol=1e-12)
    # frame 1: a turned 90 deg about Z; b's channels (0, 0, 0) put it on a
    np.testing.assert_allclose(p[1], [[0, 0, 0], [1, 0, 0], [1, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(b.end_site_positions()[1], [[1, 0, 1]], atol=1e-12)


@pytest.mark.parametrize("order", ["".join(o) for o in itertools.permutations("XYZ")])
def test_euler_orders(order: str) -> None:
    rng = np.random.default_rng(0)
    ang = rng.uniform(-180, 180, (50, 3))
    ang[:, 1] = rng.uniform(-89, 89, 50)  # away from gimbal lock for the round trip
    m = euler_to_matrix(ang, order)
    axes = {"X": 0, "Y": 1, "Z": 2}
    ref = np.stack([_axis_matrix(np.radians(ang[:, k]), axes[c]) for k, c in enumerate(order)])
    np.testing.assert_allclose(m, ref[0] @ ref[1] @ ref[2], atol=1e-12)
    np.testing.assert_allclose(euler_to_matrix(matrix_to_euler(m, order), order), m, atol=1e-9)


def test_shared_file_with_six_channels_everywhere() -> None:
    b = read_bvh(MOCAP / "bandai-namco-1" / "dataset-1_run_normal_001.bvh")
    p = b.world_positions()
    assert len(b.names) == 22 and all(len(c) == 6 for c in b.channels)
    assert p.shape == (b.num_frames, 22, 3) and b.fps == pytest.approx(30.0, rel=1e-4)
    # a run covers ground, and the legs keep their length
    assert np.ptp(p[:, b.names.index("Hips"), [0, 2]], axis=0).max() > 200.0
    shin = np.linalg.norm(p[:, b.names.index("Foot_L")] - p[:, b.names.index("LowerLeg_L")], axis=-1)
    assert np.ptp(shin) < 1e-6 and 35 < shin[0] < 45


@pytest.mark.parametrize("text, line", [
    ("HIERARCHI\nROOT a\n{\n}\n", 1),
    ("HIERARCHY\nROOT a\n{\n  OFFSET 0 0 x\n}\n", 4),
    ("HIERARCHY\nROOT a\n{\n  OFFSET 0 0 0\n  CHANNELS 2 Xposition Wrotation\n}\nMOTION\n", 5),
    ("HIERARCHY\nROOT a\n{\n  OFFSET 0 0 0\n  CHANNELS 3 Xposition Yposition\n}\n", 5),
    ("HIERARCHY\nROOT a\n{\n  OFFSET 0 0 0\nMOTION\nFrames: 1\nFrame Time: 0.1\n0\n", 5),
    (("HIERARCHY\nROOT a\n{\n  OFFSET 0 0 0\n  CHANNELS 1 Xposition\n}\nMOTION\nFrames: 2\nFrame Time: 0.1\n"
      "1\n1 2\n"), 11),
    (("HIERARCHY\nROOT a\n{\n  OFFSET 0 0 0\n  CHANNELS 1 Xposition\n}\nMOTION\nFrames: 2\nFrame Time: 0.1\n"
      "1\nnan? \n"), 11),
    ("HIERARCHY\nROOT a\n{\n  OFFSET 0 0 0\n  CHANNELS 1 Xposition\n}\nMOTION\nFrame: 2\n", 8),
    ("HIERARCHY\nROOT a\n{\n  OFFSET 0 0 0\n  End Site\n  {\n    JOINT b\n", 7),
])
def test_malformed_files_name_the_line(text: str, line: int) -> None:
    with pytest.raises(FormatError, match=rf"line {line}\b"):
        parse_bvh(text)


def test_truncated_and_missing() -> None:
    with pytest.raises(FormatError, match="2 frames but the file has 1"):
        parse_bvh("HIERARCHY\nROOT a\n{\n OFFSET 0 0 0\n CHANNELS 1 Xposition\n}\nMOTION\nFrames: 2\n"
                  "Frame Time: 0.1\n1\n")
    with pytest.raises(FormatError, match="end of file"):
        parse_bvh("HIERARCHY\nROOT a\n{\n")
    with pytest.raises(BadInput):
        read_bvh(MOCAP / "no-such-file.bvh")


def test_write_then_read_reproduces_the_joints(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    T = 40
    q = rng.normal(size=(T, sk.J, 4))
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    root = rng.normal(size=(T, 3))
    joints, _ = forward_kinematics(sk.REST_OFFSETS, q, root)
    path = tmp_path / "out.bvh"
    write_bvh(path, sk.JOINT_NAMES, sk.PARENTS, sk.REST_OFFSETS, q, root, fps=24.0)
    b = read_bvh(path)
    # the file lists joints depth first (Nose right after Head); compare by name
    assert sorted(b.names) == sorted(sk.JOINT_NAMES) and b.fps == pytest.approx(24.0)
    order = [b.names.index(n) for n in sk.JOINT_NAMES]
    np.testing.assert_allclose(b.world_positions()[:, order], joints, atol=2e-5)
    assert b.end_sites.size == 7  # every leaf: hands, toe tips, heels, nose
