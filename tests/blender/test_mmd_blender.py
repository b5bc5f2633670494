"""MMD in Blender through the operators: PMX skeleton import, VMD import/export round trips on Gene, Bezier
handles from VMD curves, retargeting a take onto the imported rig, and errors that leave the scene alone."""

from __future__ import annotations

import sys
from pathlib import Path

import bpy
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for mmd_take_helpers

from mmd_take_helpers import GENE, mocap_take  # noqa: E402

from engine import skeleton as sk  # noqa: E402
from engine.formats.pmx import read_pmx  # noqa: E402
from engine.formats.vmd import (  # noqa: E402
    VmdBoneKeys,
    VmdMotion,
    bezier_ease,
    curves_to_interpolation,
    interpolation_to_curves,
    read_vmd,
    write_vmd,
)
from engine.motion.rotations import forward_kinematics  # noqa: E402
from engine.take import write_take  # noqa: E402

MOTIONS = GENE.parent / "motion"
SWAP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


@pytest.fixture(scope="module")
def mmd_ops(addon):
    """The MMD operators, registered here unless the add-on already registers them."""
    mmd = sys.modules["monocap.operators.mmd"] if "monocap.operators.mmd" in sys.modules else None
    if mmd is None:
        from monocap.operators import mmd
    mine = [c for c in mmd.classes if not c.is_registered]
    for c in mine:
        bpy.utils.register_class(c)
    yield mmd
    for c in reversed(mine):
        bpy.utils.unregister_class(c)


@pytest.fixture(scope="module")
def gene_model():
    return read_pmx(GENE)


def _import_gene() -> bpy.types.Object:
    assert bpy.ops.monocap.import_pmx_skeleton(filepath=str(GENE)) == {"FINISHED"}
    obj = bpy.context.active_object
    assert obj.type == "ARMATURE"
    return obj


def test_import_pmx_skeleton(clean_scene, mmd_ops, gene_model):
    obj = _import_gene()
    assert len(obj.data.bones) == len(gene_model.bones) == 224
    for bone in gene_model.bones[:100]:
        b = obj.data.bones[bone.name]
        assert obj.pose.bones[bone.name]["name_j"] == bone.name
        head = np.array(b.head_local)
        assert np.allclose(head, np.array(bone.position)[[0, 2, 1]] * 0.08, atol=1e-5)
        if bone.parent >= 0:
            assert b.parent.name == gene_model.bones[bone.parent].name
    # left arm bone at +X, toes forward (-Y in Blender)
    assert obj.data.bones["左腕"].head_local.x > 0 and obj.data.bones["左足先"].head_local.y < -0.05
    knee = obj.pose.bones["左ひざ"]
    ik = knee.constraints["IK"]
    assert (ik.subtarget, ik.chain_count) == ("左足ＩＫ", 2)
    assert knee.use_ik_limit_x and knee.lock_ik_y and knee.lock_ik_z
    assert obj.pose.bones["左足首"].constraints["IK"].subtarget == "左つま先ＩＫ"
    # the knee limit lets it bend backwards (ankle behind the knee, +Y in Blender), not forwards
    assert knee.ik_min_x < -1.0 < knee.ik_max_x < 0.5
    ik.mute = True
    knee.rotation_mode = "XYZ"
    mid = 0.5 * (knee.ik_min_x + knee.ik_max_x)
    for angle, behind in ((mid, True), (-mid, False)):
        knee.rotation_euler = (angle, 0.0, 0.0)
        bpy.context.view_layer.update()
        assert (obj.pose.bones["左足首"].head.y > knee.head.y + 0.05) == behind
    knee.rotation_euler = (0.0, 0.0, 0.0)
    ik.mute = False


def _key_table(motion: VmdMotion, names: list[str]) -> dict[tuple[str, int], tuple[np.ndarray, ...]]:
    keys = motion.bone_keys
    out = {}
    curves = interpolation_to_curves(keys.interpolation)
    for name, idx in zip(names, keys.select_many(names)):
        for i in idx:
            out[(name, int(keys.frame[i]))] = (keys.position[i].astype(np.float64),
                                               keys.rotation[i].astype(np.float64), curves[i], i)
    return out


@pytest.mark.parametrize("vmd", ["26_mortifying.vmd", "28_sleepy.vmd", "35_Afraid.vmd", "stand.vmd"])
def test_vmd_round_trip(clean_scene, mmd_ops, tmp_path, vmd):
    obj = _import_gene()
    src = read_vmd(MOTIONS / vmd)
    assert bpy.ops.monocap.import_vmd(filepath=str(MOTIONS / vmd)) == {"FINISHED"}
    out = tmp_path / vmd
    assert bpy.ops.monocap.export_vmd(filepath=str(out)) == {"FINISHED"}
    back = read_vmd(out)
    names = list(src.bone_keys.name_table)  # every bone, 前クローク2_1xc (cut to 15 bytes) included
    assert "前クローク2_1xc" in names and "前クローク2_1xc" not in obj.pose.bones
    a, b = _key_table(src, names), _key_table(back, names)
    distinct = {(n, int(f)) for n, f in zip(src.bone_keys.names, src.bone_keys.frame)}
    assert set(a) == set(b) == distinct
    moved = same = 0
    worst_pos = worst_rot = 0.0
    for key, (pos, rot, _, _) in a.items():
        pos2, rot2, _, _ = b[key]
        worst_pos = max(worst_pos, float(np.abs(pos - pos2).max()))
        worst_rot = max(worst_rot, float(min(np.abs(rot - rot2).max(), np.abs(rot + rot2).max())))
    assert worst_pos <= 1e-4 and worst_rot <= 1e-4, (worst_pos, worst_rot)
    # curves: every segment whose rotation or position changes gets its curve back
    keys = src.bone_keys
    for name, idx in zip(names, keys.select_many(names)):
        for k in range(1, len(idx)):
            i0, i1 = idx[k - 1], idx[k]
            rot_moves = min(np.abs(keys.rotation[i1] - keys.rotation[i0]).max(),
                            np.abs(keys.rotation[i1] + keys.rotation[i0]).max()) > 1e-3
            if rot_moves:
                moved += 1
                same += np.array_equal(a[(name, int(keys.frame[i1]))][2][3], b[(name, int(keys.frame[i1]))][2][3])
    assert moved == 0 or same == moved, (same, moved)


def test_bezier_handles_follow_vmd_curves(clean_scene, mmd_ops, tmp_path):
    obj = _import_gene()
    rng = np.random.default_rng(7)
    names, frames, pos, rot, curves = [], [], [], [], []
    for bone in ("センター", "左腕", "首", "右ひざ"):
        for f in (0, 10, 25, 40):
            names.append(bone)
            frames.append(f)
            pos.append(rng.normal(0, 2, 3) if bone == "センター" else np.zeros(3))
            q = rng.normal(0, 1, 4)
            q[3] = abs(q[3]) + 2.0
            rot.append(q / np.linalg.norm(q))
            curves.append(rng.integers(0, 128, (4, 4)))
    curves = np.array(curves)
    motion = VmdMotion(model_name="test", bone_keys=VmdBoneKeys.build(
        names, np.array(frames), np.array(pos), np.array(rot), curves_to_interpolation(curves)))
    path = tmp_path / "curves.vmd"
    write_vmd(path, motion)
    assert bpy.ops.monocap.import_vmd(filepath=str(path), frame_offset=5) == {"FINISHED"}
    from monocap.blender_lib.actions.compat import channels

    ch = channels(obj)
    # Blender's value inside each segment is v0 + ease(u) (v1 - v0), the VMD easing of that segment
    for bone in ("左腕", "首"):
        fcs = [ch.find(f'pose.bones["{bone}"].rotation_quaternion', i) for i in range(4)]
        sel = [i for i, n in enumerate(names) if n == bone]
        for k in range(1, len(sel)):
            f0, f1 = frames[sel[k - 1]], frames[sel[k]]
            for u in (0.25, 0.5, 0.8):
                t = f0 + u * (f1 - f0) + 5
                w = bezier_ease(curves[sel[k], 3], u)
                for fc in fcs:
                    kp = fc.keyframe_points
                    v0, v1 = kp[k - 1].co[1], kp[k].co[1]
                    assert abs(fc.evaluate(t) - (v0 + w * (v1 - v0))) < 1e-4
    out = tmp_path / "back.vmd"
    assert bpy.ops.monocap.export_vmd(filepath=str(out), frame_offset=5) == {"FINISHED"}
    back = read_vmd(out)
    assert sorted(set(back.bone_keys.frame.tolist())) == [0, 10, 25, 40]
    got = interpolation_to_curves(back.bone_keys.interpolation)
    for bone in ("左腕", "首", "センター"):
        i_src = motion.bone_keys.select(bone)
        i_out = back.bone_keys.select(bone)
        assert np.array_equal(got[i_out][1:, 3], curves[i_src][1:, 3])  # rotation curves come back
        if bone == "センター":
            assert np.array_equal(got[i_out][1:, :3], curves[i_src][1:, :3])  # and X, Y, Z position curves
        assert np.allclose(back.bone_keys.position[i_out], motion.bone_keys.position[i_src], atol=1e-4)


def _take_directions(take: dict) -> dict[str, np.ndarray]:
    p = np.asarray(take["joints3d"])
    rest = np.asarray(take["rest_offsets"])
    _, world = forward_kinematics(rest, np.asarray(take["rotations"]), p[:, 0])
    i = sk.INDEX
    seg = {"上半身": ("Spine", "Chest"), "首": ("Neck", "Head"), "左腕": ("UpperArm_L", "LowerArm_L"),
           "右ひじ": ("LowerArm_R", "Hand_R"), "左足": ("UpperLeg_L", "LowerLeg_L"),
           "右ひざ": ("LowerLeg_R", "Foot_R"), "左足首": ("Foot_L", "Toes_L")}
    out = {n: p[:, i[b]] - p[:, i[a]] for n, (a, b) in seg.items()}
    out["頭"] = world[:, i["Head"]] @ np.array([0.0, 1.0, 0.0])
    return {k: v * [1.0, 1.0, -1.0] / np.linalg.norm(v, axis=-1, keepdims=True) for k, v in out.items()}


@pytest.mark.parametrize("mode", ["fk", "ik"])
def test_retarget_take_operator(clean_scene, mmd_ops, tmp_path, mode):
    take = mocap_take("dataset-1_walk_normal_001.bvh", frames=40)
    path = tmp_path / "walk.npz"
    write_take(path, take)
    obj = _import_gene()
    assert bpy.ops.monocap.retarget_take_mmd(filepath=str(path), leg_mode=mode) == {"FINISHED"}
    scene = bpy.context.scene
    assert (scene.render.fps, scene.frame_start, scene.frame_end) == (30, 0, 39)
    want = _take_directions(take)
    errors: dict[str, list[float]] = {n: [] for n in want}
    feet = []
    for t in (0, 13, 27, 39):
        bpy.context.scene.frame_set(t)
        for n in want:
            pb = obj.pose.bones[n]
            d = SWAP @ np.array(pb.tail - pb.head)  # armature space -> MMD axes
            d /= np.linalg.norm(d)
            errors[n].append(np.degrees(np.arccos(np.clip(d @ want[n][t], -1.0, 1.0))))
        feet.append(np.array(obj.pose.bones["左足首"].head))
    mean = {n: float(np.mean(e)) for n, e in errors.items()}
    body = [v for n, v in mean.items() if n not in ("左足", "右ひざ", "左足首")]
    print(mode, {n: round(v, 2) for n, v in mean.items()})
    assert np.mean(body) < 2.0
    if mode == "fk":
        assert np.mean(list(mean.values())) < 2.0
    else:
        assert np.mean(list(mean.values())) < 10.0
    # the hips travel: the walk moves the rig forward (Blender -Y)
    assert feet[-1][1] < feet[0][1] - 0.3


def test_errors_leave_scene_unchanged(clean_scene, mmd_ops, tmp_path):
    obj = _import_gene()
    bad = tmp_path / "cut.vmd"
    bad.write_bytes((MOTIONS / "stand.vmd").read_bytes()[:500])
    n_actions = len(bpy.data.actions)
    with pytest.raises(RuntimeError, match="truncated") as info:
        bpy.ops.monocap.import_vmd(filepath=str(bad))
    assert "\n" not in str(info.value).strip()
    assert len(bpy.data.actions) == n_actions and obj.animation_data is None

    # a VMD meant for another model: no bone matches
    other = _plain_armature("Prop", ("Lid", "Hinge", "Base"))
    with pytest.raises(RuntimeError, match="none of the motion"):
        bpy.ops.monocap.import_vmd(filepath=str(MOTIONS / "stand.vmd"))
    assert len(bpy.data.actions) == n_actions and other.animation_data is None

    take = mocap_take("dataset-1_walk_normal_001.bvh", frames=5)
    write_take(tmp_path / "t.npz", take)
    with pytest.raises(RuntimeError, match="none of the MMD bones"):
        bpy.ops.monocap.retarget_take_mmd(filepath=str(tmp_path / "t.npz"))
    assert len(bpy.data.actions) == n_actions

    # a truncated PMX: no armature appears
    cut_pmx = tmp_path / "cut.pmx"
    cut_pmx.write_bytes(GENE.read_bytes()[:4000])
    n_objects = len(bpy.data.objects)
    with pytest.raises(RuntimeError, match="Error: .*cut.pmx"):
        bpy.ops.monocap.import_pmx_skeleton(filepath=str(cut_pmx))
    assert len(bpy.data.objects) == n_objects

    # nothing to export yet
    bpy.context.view_layer.objects.active = obj
    with pytest.raises(RuntimeError, match="no animation"):
        bpy.ops.monocap.export_vmd(filepath=str(tmp_path / "none.vmd"))
    assert not (tmp_path / "none.vmd").exists()

    # a bone name cp932 cannot store: nothing is written
    bpy.context.view_layer.objects.active = obj
    assert bpy.ops.monocap.import_vmd(filepath=str(MOTIONS / "stand.vmd")) == {"FINISHED"}
    obj.pose.bones["首"]["name_j"] = "Nackenknochen_é"
    out = tmp_path / "bad.vmd"
    with pytest.raises(RuntimeError, match="cp932"):
        bpy.ops.monocap.export_vmd(filepath=str(out))
    assert not out.exists()


def _plain_armature(name: str, bones: tuple[str, ...]) -> bpy.types.Object:
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for i, n in enumerate(bones):
        eb = data.edit_bones.new(n)
        eb.head, eb.tail = (i, 0, 0), (i, 0, 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def test_mmd_tools_style_names(clean_scene, mmd_ops):
    """Bones found by mmd_bone.name_j, by NFKC name and by English/.L aliases."""
    from monocap.blender_lib.mmd.armature import bone_lookup, find_bone

    obj = _plain_armature("mt", ("arm_L", "elbow.R", "bone_x", "左足IK", "center"))
    obj.pose.bones["bone_x"]["mmd_bone"] = {"name_j": "上半身"}
    lookup = bone_lookup(obj)
    assert find_bone(lookup, "左腕") == "arm_L"
    assert find_bone(lookup, "右ひじ") == "elbow.R"
    assert find_bone(lookup, "上半身") == "bone_x"
    assert find_bone(lookup, "センター") == "center"
    assert find_bone(lookup, "左足ＩＫ") == "左足IK"  # NFKC: full-width ＩＫ
    assert find_bone(lookup, "下半身") is None
    from monocap.blender_lib.mmd.armature import model_from_armature

    model = model_from_armature(obj)
    assert [model.bone_index(n) for n in ("左腕", "右ひじ", "上半身", "センター", "下半身")] == [0, 1, 2, 4, -1]


def test_imported_vmd_poses_like_mmd(clean_scene, mmd_ops, gene_model):
    """Blender's pose after Import VMD puts the bones where MMD's own FK (engine.rig.mmd_fk) does."""
    from engine.rig.mmd_fk import pose_world

    obj = _import_gene()
    motion = read_vmd(MOTIONS / "26_mortifying.vmd")
    assert bpy.ops.monocap.import_vmd(filepath=str(MOTIONS / "26_mortifying.vmd")) == {"FINISHED"}
    names = ["上半身2", "首", "頭", "頭先", "左腕", "左ひじ", "左手首", "右手首", "右中指先", "左親指先"]
    frames = [0, 40, 90, 151, 300]
    want, _ = pose_world(gene_model, motion, np.array(frames), solve_ik=False)
    idx = [gene_model.bone_index(n) for n in names]
    worst = 0.0
    for k, f in enumerate(frames):
        bpy.context.scene.frame_set(f)
        for n, b in zip(names, idx):
            got = SWAP @ np.array(obj.pose.bones[n].head) / 0.08
            worst = max(worst, float(np.linalg.norm(got - want[k, b])))
    assert worst < 1e-3, worst  # MMD units
    moved = np.linalg.norm(want[:, idx[4]] - want[0, idx[4]], axis=-1).max()
    assert moved > 0.1


def test_export_vmd_of_every_selected_armature(clean_scene, mmd_ops, tmp_path):
    """The people of one capture, each retargeted onto their own rig: one VMD per selected armature, the same
    as each exported alone."""
    take = mocap_take("dataset-1_walk_normal_001.bvh", frames=20)
    write_take(tmp_path / "walk.npz", take)
    rigs = []
    for name in ("Gene_p0", "Gene_p1"):
        obj = _import_gene()
        obj.name = name
        assert bpy.ops.monocap.retarget_take_mmd(filepath=str(tmp_path / "walk.npz"), frame_offset=len(rigs)) \
            == {"FINISHED"}
        rigs.append(obj)
    for obj in rigs:
        bpy.context.view_layer.objects.active = obj
        obj.select_set(True)
        assert bpy.ops.monocap.export_vmd(filepath=str(tmp_path / f"alone_{obj.name}.vmd")) == {"FINISHED"}
    assert all(o.select_get() for o in rigs)
    assert bpy.ops.monocap.export_vmd(filepath=str(tmp_path / "dance.vmd"), every_selected=True) == {"FINISHED"}
    assert not (tmp_path / "dance.vmd").exists()
    for obj in rigs:
        both, alone = (read_vmd(tmp_path / f"{stem}_{obj.name}.vmd") for stem in ("dance", "alone"))
        assert len(both.bone_keys) == len(alone.bone_keys) > 0
        assert np.array_equal(both.bone_keys.frame, alone.bone_keys.frame)
    frames = [int(read_vmd(tmp_path / f"dance_{o.name}.vmd").bone_keys.frame.min()) for o in rigs]
    assert frames[1] == frames[0] + 1  # each armature's own motion


def test_retarget_the_people_of_one_capture_in_one_step(clean_scene, mmd_ops, tmp_path):
    """Two takes of one capture onto two selected MMD rigs in one step: person order onto name order, each the
    same motion as retargeted alone; a count that does not match is one line and keys nothing."""
    from engine.formats.vmd import read_vmd as read

    walk = mocap_take("dataset-1_walk_normal_001.bvh", frames=20)
    other = mocap_take("dataset-1_walk_normal_001.bvh", frames=40)
    other = {k: (v[20:] if isinstance(v, np.ndarray) and v.ndim and len(v) == 40 else v) for k, v in other.items()}
    for n, take in ((0, walk), (1, other)):
        write_take(tmp_path / f"take_p{n}.npz", {**take, "person": np.int32(n), "people": np.array([0, 1], np.int32)})
    rigs = []
    for name in ("Gene_b", "Gene_a"):  # made in the other order: pairing is by name, not by creation
        obj = _import_gene()
        obj.name = name
        rigs.append(obj)
    rigs.sort(key=lambda o: o.name)
    for obj in rigs:
        obj.select_set(True)
    files = [{"name": "take_p1.npz"}, {"name": "take_p0.npz"}]
    n_actions = len(bpy.data.actions)
    rigs[1].select_set(False)
    with pytest.raises(RuntimeError, match="2 takes need as many selected MMD armatures") as info:
        bpy.ops.monocap.retarget_take_mmd(directory=str(tmp_path), files=files)
    assert "\n" not in str(info.value).strip() and len(bpy.data.actions) == n_actions
    rigs[1].select_set(True)
    assert bpy.ops.monocap.retarget_take_mmd(directory=str(tmp_path), files=files) == {"FINISHED"}
    assert [o.animation_data.action.name.split(".")[0] for o in rigs] == ["take_p0", "take_p1"]
    for obj in rigs:  # each the motion a retarget of its take alone gives
        bpy.context.view_layer.objects.active = obj
        assert bpy.ops.monocap.export_vmd(filepath=str(tmp_path / f"both_{obj.name}.vmd")) == {"FINISHED"}
    for obj, n in zip(rigs, (0, 1)):
        for o in rigs:
            o.select_set(o is obj)
        bpy.context.view_layer.objects.active = obj
        assert bpy.ops.monocap.retarget_take_mmd(filepath=str(tmp_path / f"take_p{n}.npz")) == {"FINISHED"}
        assert bpy.ops.monocap.export_vmd(filepath=str(tmp_path / f"alone_{obj.name}.vmd")) == {"FINISHED"}
        both, alone = (read(tmp_path / f"{s}_{obj.name}.vmd").bone_keys for s in ("both", "alone"))
        assert len(both) == len(alone) > 0 and np.array_equal(both.frame, alone.frame)
        assert np.array_equal(both.rotation, alone.rotation) and np.array_equal(both.position, alone.position)
    assert not np.array_equal(read(tmp_path / "both_Gene_a.vmd").bone_keys.rotation,
                              read(tmp_path / "both_Gene_b.vmd").bone_keys.rotation)
