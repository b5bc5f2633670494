"""Retarget of mocap takes onto Gene (engine/rig/retarget.py), checked through the file: the VMD is written,
read back with read_vmd and posed with mmd_fk.pose_world; bone directions and feet are compared with the
take using this file's own table of which take segment each MMD bone follows."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmd_take_helpers import BABYLON, GENE, mocap_take, with_rest_arms  # noqa: E402

from engine import skeleton as sk  # noqa: E402
from engine.errors import BadInput  # noqa: E402
from engine.formats.pmx import read_pmx  # noqa: E402
from engine.formats.vmd import read_vmd  # noqa: E402
from engine.motion.rotations import forward_kinematics  # noqa: E402
from engine.rig.mmd_fk import pose_world, quat_to_matrix  # noqa: E402
from engine.rig.retarget import retarget_to_vmd, write_take_vmd, yup_to_mmd  # noqa: E402

FLIP = np.array([1.0, 1.0, -1.0])  # world_yup direction -> MMD direction
IDX = sk.INDEX
SEGMENTS = {"下半身": (("Spine",), ("UpperLeg_L", "UpperLeg_R")), "上半身": (("Spine",), ("Chest",)),
            "上半身2": (("Chest",), ("Neck",)), "首": (("Neck",), ("Head",))}
for _s, _j in (("左", "L"), ("右", "R")):
    SEGMENTS.update({
        f"{_s}肩": ((f"Shoulder_{_j}",), (f"UpperArm_{_j}",)), f"{_s}腕": ((f"UpperArm_{_j}",), (f"LowerArm_{_j}",)),
        f"{_s}ひじ": ((f"LowerArm_{_j}",), (f"Hand_{_j}",)), f"{_s}足": ((f"UpperLeg_{_j}",), (f"LowerLeg_{_j}",)),
        f"{_s}ひざ": ((f"LowerLeg_{_j}",), (f"Foot_{_j}",)), f"{_s}足首": ((f"Foot_{_j}",), (f"Toes_{_j}",)),
    })
LEGS = {f"{s}{n}" for s in "左右" for n in ("足", "ひざ", "足首")}


@pytest.fixture(scope="module")
def gene():
    return read_pmx(GENE)


@pytest.fixture(scope="module")
def walk():
    return mocap_take("dataset-1_walk_normal_001.bvh", start=0, frames=120)


def _unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def take_directions(take: dict) -> dict[str, np.ndarray]:
    """Per MMD bone, the take's direction (T, 3) in MMD axes: segments of joints3d; the head's up axis and
    the hand's forearm axis turned by their world rotations (forward kinematics of the rotations)."""
    p = np.asarray(take["joints3d"], np.float64)
    rest = np.asarray(take["rest_offsets"], np.float64)
    _, world = forward_kinematics(rest, np.asarray(take["rotations"]), p[:, 0])
    out = {n: p[:, [IDX[x] for x in c]].mean(1) - p[:, [IDX[x] for x in a]].mean(1) for n, (a, c) in SEGMENTS.items()}
    out["頭"] = world[:, IDX["Head"]] @ np.array([0.0, 1.0, 0.0])
    for s, j in (("左", "L"), ("右", "R")):
        out[f"{s}手首"] = world[:, IDX[f"Hand_{j}"]] @ rest[IDX[f"Hand_{j}"]]
    return {k: _unit(v * FLIP) for k, v in out.items()}


def rig_directions(model, pos, rot, names) -> dict[str, np.ndarray]:
    """Posed head -> tail of each PMX bone (tail bone's head, or the tail offset turned by the bone)."""
    out = {}
    for n in names:
        b = model.bone_index(n)
        bone = model.bones[b]
        if bone.flags & 1:
            d = pos[:, bone.tail_bone] - pos[:, b]
        else:
            d = quat_to_matrix(rot[:, b]) @ np.asarray(bone.tail_offset)
        out[n] = _unit(d)
    return out


def posed(tmp_path, take, model, mode):
    path = tmp_path / f"{mode}.vmd"
    motion, warnings = retarget_to_vmd(take, model, mode)
    from engine.formats.vmd import write_vmd
    write_vmd(path, motion)
    back = read_vmd(path)
    frames = np.unique(back.bone_keys.frame)
    pos, rot = pose_world(model, back, frames)
    return back, warnings, pos, rot


def angle_errors(take, model, pos, rot) -> dict[str, np.ndarray]:
    td = take_directions(take)
    rd = rig_directions(model, pos, rot, td)
    return {n: np.degrees(np.arccos(np.clip(np.sum(td[n] * rd[n], -1), -1.0, 1.0))) for n in td}


def scale_of(model, take) -> float:
    rest = np.asarray(take["rest_offsets"])
    r = []
    for s, j in (("左", "L"), ("右", "R")):
        p = [np.asarray(model.bones[model.bone_index(s + n)].position) for n in ("足", "ひざ", "足首")]
        r.append((np.linalg.norm(p[1] - p[0]) + np.linalg.norm(p[2] - p[1]))
                 / (np.linalg.norm(rest[IDX["LowerLeg_" + j]]) + np.linalg.norm(rest[IDX["Foot_" + j]])))
    return float(np.mean(r))


def test_fk_mode_bone_directions(tmp_path, gene, walk):
    back, warnings, pos, rot = posed(tmp_path, walk, gene, "fk")
    assert warnings == []
    assert len(np.unique(back.bone_keys.frame)) == walk["joints3d"].shape[0]  # 30 fps take: one key a frame
    err = angle_errors(walk, gene, pos, rot)
    assert len(err) == 19
    mean = float(np.mean([e.mean() for e in err.values()]))
    print(f"FK mode: mean direction error {mean:.4f} deg, worst {max(e.max() for e in err.values()):.4f}")
    assert mean <= 5.0
    assert max(e.max() for e in err.values()) < 1.0
    # the IK bones are switched off for FK
    assert {s.name: s.enabled for s in back.property_keys[0].ik} == {
        "左足ＩＫ": 0, "右足ＩＫ": 0, "左つま先ＩＫ": 0, "右つま先ＩＫ": 0}


def test_ik_mode_feet_and_directions(tmp_path, gene, walk):
    back, warnings, pos, rot = posed(tmp_path, walk, gene, "auto")
    assert warnings == []
    assert {s.name for s in back.property_keys[0].ik if s.enabled} == {"左足ＩＫ", "右足ＩＫ", "左つま先ＩＫ",
                                                                       "右つま先ＩＫ"}
    keyed = set(back.bone_keys.name_table)
    assert "左足ＩＫ" in keyed and "左ひざ" not in keyed  # the legs come from MMD's IK solve
    err = angle_errors(walk, gene, pos, rot)
    mean = float(np.mean([e.mean() for e in err.values()]))
    legs = float(np.mean([err[n].mean() for n in LEGS]))
    assert mean <= 5.0, mean
    assert legs <= 10.0, legs
    s = scale_of(gene, walk)
    rest_pos = sk.rest_positions(np.asarray(walk["rest_offsets"]))
    contacts = np.asarray(walk["contacts"])
    feet = []
    for side, j, cols in (("左", "L", [0, 1]), ("右", "R", [2, 3])):
        b = gene.bone_index(side + "足首")
        moved = walk["joints3d"][:, IDX["Foot_" + j]] - rest_pos[IDX["Foot_" + j]]
        want = np.asarray(gene.bones[b].position) + moved * FLIP * s
        cm = np.linalg.norm(pos[:, b] - want, axis=-1) / s * 100.0  # error at the take's scale
        on = contacts[:, cols].any(1)
        assert on.sum() > 10
        feet.append(cm[on])
    feet = np.concatenate(feet)
    print(f"IK mode: mean direction error {mean:.2f} deg (legs {legs:.2f}); feet during contact "
          f"mean {feet.mean():.2f} cm, max {feet.max():.2f} cm")
    assert feet.max() <= 2.0


def test_take_in_a_pose_and_rig_rest(tmp_path, gene, walk):
    """An A-pose take gives the same motion as the T-pose one; a take at its rest pose puts Gene (an A-pose
    rig) into the take's rest pose."""
    a_take = with_rest_arms(walk, 40.0)
    assert not np.allclose(a_take["rotations"][:, IDX["UpperArm_L"]], walk["rotations"][:, IDX["UpperArm_L"]],
                           atol=1e-2)
    m_t, _ = retarget_to_vmd(walk, gene, "fk")
    m_a, _ = retarget_to_vmd(a_take, gene, "fk")
    assert m_t.bone_keys.name_table == m_a.bone_keys.name_table
    assert np.allclose(m_t.bone_keys.rotation, m_a.bone_keys.rotation, atol=1e-4)
    _, _, pos, rot = posed(tmp_path, a_take, gene, "fk")
    err = angle_errors(a_take, gene, pos, rot)
    assert float(np.mean([e.mean() for e in err.values()])) < 1.0

    for degrees, arm_drop in ((0.0, 0.0), (40.0, 40.0)):
        rest_take = with_rest_arms(walk, degrees)
        still = dict(rest_take)
        rp = sk.rest_positions(np.asarray(rest_take["rest_offsets"]))
        still["joints3d"] = np.repeat(rp[None], 3, 0)
        still["rotations"] = np.tile([1.0, 0.0, 0.0, 0.0], (3, sk.J, 1))
        _, _, pos, rot = posed(tmp_path, still, gene, "fk")
        arm = pos[0, gene.bone_index("左ひじ")] - pos[0, gene.bone_index("左腕")]
        drop = np.degrees(np.arctan2(-arm[1], arm[0]))
        assert abs(drop - arm_drop) < 1.0, (degrees, drop)
        # Gene's own rest is an A-pose about 34 degrees down
        rest_arm = np.subtract(gene.bones[gene.bone_index("左ひじ")].position,
                               gene.bones[gene.bone_index("左腕")].position)
        assert np.degrees(np.arctan2(-rest_arm[1], rest_arm[0])) > 25


def t_posed(model):
    """A copy of the model with its arms raised to horizontal (a T-pose rig): every bone below 腕 turns
    about the 腕 head."""
    m = copy.deepcopy(model)
    parents = m.parents()
    for side, sign in (("左", 1.0), ("右", -1.0)):
        a, e = m.bone_index(side + "腕"), m.bone_index(side + "ひじ")
        head = np.asarray(m.bones[a].position)
        d = np.asarray(m.bones[e].position) - head
        ang = sign * np.arctan2(-d[1], abs(d[0]))
        rz = np.array([[np.cos(ang), -np.sin(ang), 0.0], [np.sin(ang), np.cos(ang), 0.0], [0.0, 0.0, 1.0]])
        for b in range(len(m.bones)):
            p, below = b, False
            while p >= 0:
                if p == a:
                    below = True
                    break
                p = parents[p]
            if not below:
                continue
            bone = m.bones[b]
            if b != a:
                bone.position = tuple(head + rz @ (np.asarray(bone.position) - head))
            bone.tail_offset = tuple(rz @ np.asarray(bone.tail_offset))
    return m


def test_t_pose_rig_a_pose_take(tmp_path, gene, walk):
    rig = t_posed(gene)
    arm = np.subtract(rig.bones[rig.bone_index("左ひじ")].position, rig.bones[rig.bone_index("左腕")].position)
    assert abs(arm[1]) < 1e-6 < arm[0]
    a_take = with_rest_arms(walk, 40.0)
    _, warnings, pos, rot = posed(tmp_path, a_take, rig, "fk")
    err = angle_errors(a_take, rig, pos, rot)
    assert float(np.mean([e.mean() for e in err.values()])) < 1.0 and warnings == []
    still = dict(a_take)
    still["joints3d"] = np.repeat(sk.rest_positions(np.asarray(a_take["rest_offsets"]))[None], 2, 0)
    still["rotations"] = np.tile([1.0, 0.0, 0.0, 0.0], (2, sk.J, 1))
    _, _, pos, _ = posed(tmp_path, still, rig, "fk")
    for side, sign in (("左", 1.0), ("右", -1.0)):
        arm = pos[0, rig.bone_index(side + "ひじ")] - pos[0, rig.bone_index(side + "腕")]
        assert abs(np.degrees(np.arctan2(-arm[1], sign * arm[0])) - 40.0) < 1.0


def test_root_trajectory_on_center_and_groove(tmp_path, gene, walk):
    back, _, pos, _ = posed(tmp_path, walk, gene, "fk")
    center = back.bone_keys.select("センター")
    groove = back.bone_keys.select("グルーブ")
    assert np.allclose(back.bone_keys.position[center][:, 1], 0.0)
    assert np.allclose(back.bone_keys.position[groove][:, [0, 2]], 0.0)
    s = scale_of(gene, walk)
    mid = 0.5 * (pos[:, gene.bone_index("左足")] + pos[:, gene.bone_index("右足")])
    take_mid = 0.5 * (walk["joints3d"][:, IDX["UpperLeg_L"]] + walk["joints3d"][:, IDX["UpperLeg_R"]])
    rig_rest = 0.5 * np.add(gene.bones[gene.bone_index("左足")].position, gene.bones[gene.bone_index("右足")].position)
    take_rest = 0.5 * (sk.rest_positions(walk["rest_offsets"])[[IDX["UpperLeg_L"], IDX["UpperLeg_R"]]].sum(0))
    assert np.allclose(mid, rig_rest + (take_mid - take_rest) * FLIP * s, atol=1e-3)
    # walking forward: the take moves towards +Z (world_yup), the rig towards -Z (MMD)
    assert np.sign(take_mid[-1, 2] - take_mid[0, 2]) == -np.sign(mid[-1, 2] - mid[0, 2])
    assert np.allclose(yup_to_mmd(np.array([0.08, 0.16, 0.24])), [1.0, 2.0, -3.0])


def test_fps_resampling(gene):
    take = mocap_take("dataset-1_walk_normal_001.bvh", frames=40, step=2)  # 15 fps
    motion, _ = retarget_to_vmd(take, gene, "fk")
    frames = np.unique(motion.bone_keys.frame)
    assert frames.tolist() == list(range(0, 80, 2))


def test_missing_bones_warn(tmp_path, walk):
    for name in ("bone_flag_test.pmx", "bone_hierarchy_test.pmx", "constraint_test.pmx"):
        model = read_pmx(BABYLON / name)
        motion, warnings = retarget_to_vmd(walk, model)
        text = " ".join(warnings)
        assert "上半身" in text and "左足" in text and "ひじ" in text
        out = tmp_path / f"{name}.vmd"
        write_take_vmd(walk, BABYLON / name, out)
        back = read_vmd(out)
        assert set(back.bone_keys.name_table) <= {"センター"}


def test_bad_takes(gene, walk):
    with pytest.raises(BadInput, match="lift it first"):
        retarget_to_vmd({"fps": 30.0}, gene)
    bad = dict(walk)
    bad["rotations"] = bad["rotations"][:, :5]
    with pytest.raises(BadInput, match="disagree"):
        retarget_to_vmd(bad, gene)
    with pytest.raises(BadInput, match="leg mode"):
        retarget_to_vmd(walk, gene, "both")


def test_write_take_vmd(tmp_path, walk):
    out = tmp_path / "gene.vmd"
    assert write_take_vmd(walk, GENE, out) == []
    back = read_vmd(out)
    assert back.model_name.startswith("Gene") or back.model_name
    assert {"センター", "グルーブ", "下半身", "上半身", "上半身2", "首", "頭", "左肩", "右腕", "左ひじ", "右手首",
            "左足ＩＫ", "右つま先ＩＫ"} <= set(back.bone_keys.name_table)
