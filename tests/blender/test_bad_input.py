"""Every operator that reads a file or needs an armature, driven with bad input (issue 21): a damaged take
(truncated, a header that lies about its size, an unknown version), a damaged VMD or PMX (bit-flipped,
truncated), a folder where a file belongs, a read-only or impossible export target, an armature without
the bones, nothing active, a video Blender cannot read, no engine.

Each case runs twice on the same scene:
- through `bpy.ops`, as a script or the UI calls it: headless Blender turns the operator's ERROR reports
  into one RuntimeError whose text has one "Error: ..." line per report (a Python exception that escaped
  the operator would show up there as "Error: Python: Traceback ...");
- through the operator's own `execute` with a recording stand-in for `self`, which sees the return value
  and every report (INFO and WARNING too).
Both must give CANCELLED with exactly one ERROR report line, and leave the scene exactly as it was: objects
(names, types, data, parents, transforms, selection, the active one and its mode), actions (F-curves and
every key's values and handles), armature bones, pose bones (transforms, rotation modes, custom properties,
constraints), the frame rate, range and current frame, and the files beside the input or output.
"""

from __future__ import annotations

import io
import re
import os
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import bpy
import numpy as np
import pytest
from monocap_testdata import MOCAP, VIDEO, mocap_take

ROOT = Path(__file__).resolve().parents[2]
ENGINE_PY = ROOT / ".venv" / "bin" / "python"
GENE = MOCAP.parents[1] / "mmd" / "gene" / "Gene.pmx"
STAND_VMD = GENE.parent / "motion" / "stand.vmd"
CLIP = "dataset-1_walk_normal_001.bvh"


# ------------------------------------------------------------------------------------------------ snapshot

def _fcurves(action: bpy.types.Action) -> list:
    if hasattr(action, "layers") and len(action.layers):
        return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
                for fc in bag.fcurves]
    return list(getattr(action, "fcurves", []))


def _keys(fc: bpy.types.FCurve) -> tuple:
    n = len(fc.keyframe_points)
    out = []
    for prop in ("co", "handle_left", "handle_right"):
        a = np.zeros(2 * n, np.float64)
        fc.keyframe_points.foreach_get(prop, a)
        out.append(a.tobytes())
    interp = [k.interpolation for k in fc.keyframe_points]
    return (fc.data_path, fc.array_index, n, tuple(out), tuple(interp), fc.mute)


def _props(item) -> tuple:
    return tuple(sorted((k, repr(item[k].to_dict() if hasattr(item[k], "to_dict") else item[k]))
                        for k in item.keys()))  # noqa: SIM118 (ID properties)


def _vec(v) -> tuple:
    return tuple(round(float(x), 9) for x in v)


def snapshot() -> dict:
    """Everything an operator could change in the scene, as plain comparable values."""
    scene, layer = bpy.context.scene, bpy.context.view_layer
    objects = {}
    for o in bpy.data.objects:
        anim = o.animation_data
        entry = {
            "type": o.type, "data": o.data.name if o.data else None, "parent": o.parent.name if o.parent else None,
            "matrix": tuple(_vec(row) for row in o.matrix_world), "mode": o.mode, "props": _props(o),
            "selected": o.select_get() if o.name in bpy.context.scene.objects else None,
            "action": anim.action.name if anim and anim.action else None,
            "slot": getattr(anim, "action_slot", None) and anim.action_slot.identifier if anim else None,
        }
        if o.type == "ARMATURE":
            entry["pose"] = tuple(
                (pb.name, pb.rotation_mode, _vec(pb.location), _vec(pb.rotation_quaternion),
                 _vec(pb.rotation_euler), _vec(pb.scale), _props(pb),
                 tuple((c.name, c.type, c.mute, round(c.influence, 9)) for c in pb.constraints))
                for pb in o.pose.bones)
        objects[o.name] = entry
    return {
        "objects": objects,
        "active": layer.objects.active.name if layer.objects.active else None,
        "actions": {a.name: tuple(sorted(_keys(fc) for fc in _fcurves(a))) for a in bpy.data.actions},
        "armatures": {a.name: tuple((b.name, b.parent.name if b.parent else None, _vec(b.head_local),
                                     _vec(b.tail_local)) for b in a.bones) for a in bpy.data.armatures},
        "counts": {c: len(getattr(bpy.data, c)) for c in (
            "objects", "armatures", "actions", "meshes", "movieclips", "images", "materials", "collections",
            "cameras", "lights", "texts", "node_groups", "worlds", "scenes")},
        "scene": (scene.render.fps, scene.render.fps_base, scene.frame_start, scene.frame_end,
                  scene.frame_current),
    }


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else "dir", p.stat().st_mode)
            for p in sorted(folder.rglob("*"))}


# ------------------------------------------------------------------------------------------------ driving

def _defaults(idname: str) -> dict:
    """The operator's property defaults, as Blender registered them."""
    rna = getattr(bpy.ops.monocap, idname).get_rna_type()
    out = {}
    for p in rna.properties:
        if p.identifier == "rna_type":
            continue
        if p.type == "COLLECTION":  # a file list (Import Take's several files): empty unless given
            out[p.identifier] = []
            continue
        out[p.identifier] = (set(p.default_flag) if p.type == "ENUM" and p.is_enum_flag
                             else tuple(p.default_array) if getattr(p, "array_length", 0) else p.default)
    return out


def run_execute(idname: str, **props) -> tuple[set[str], list[tuple[set[str], str]]]:
    """Call the operator's execute with a stand-in `self` that records reports: (return value, reports)."""
    cls = getattr(bpy.types, "MONOCAP_OT_" + idname)
    reports: list[tuple[set[str], str]] = []
    members = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("monocap"):
            members.update({k: v for k, v in vars(klass).items() if callable(v) or k.startswith("_")})
    members = {k: v for k, v in members.items() if not k.startswith("__")}
    stand_in = type("StandIn", (), members)()
    for k, v in {**_defaults(idname), **props}.items():
        setattr(stand_in, k, v)
    stand_in.report = lambda kind, message: reports.append((set(kind), message))
    return stand_in.execute(bpy.context), reports


def refused(idname: str, message: str, watch: Path | None = None, **props) -> str:
    """Run monocap.<idname> both ways; assert one ERROR line matching `message`, CANCELLED, nothing changed.
    Returns the message."""
    op = getattr(bpy.ops.monocap, idname)
    before, files = snapshot(), _files(watch) if watch else None
    with pytest.raises(RuntimeError) as info:
        op(**props)
    text = str(info.value)
    lines = text.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in text, text
    line = lines[0][len("Error: "):]
    assert re.search(message, line), line
    assert snapshot() == before, _diff(before, snapshot())
    if watch:
        assert _files(watch) == files
    result, reports = run_execute(idname, **props)
    assert result == {"CANCELLED"}
    assert reports == [({"ERROR"}, line)], reports
    assert snapshot() == before, _diff(before, snapshot())
    if watch:
        assert _files(watch) == files
    return line


def _diff(a, b, where: str = "") -> str:
    """Where two snapshots differ, one line each."""
    if isinstance(a, dict) and isinstance(b, dict):
        return "\n".join(d for k in sorted(set(a) | set(b), key=str)
                         if (d := _diff(a.get(k), b.get(k), f"{where}[{k}]")))
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return "\n".join(d for i, (x, y) in enumerate(zip(a, b)) if (d := _diff(x, y, f"{where}[{i}]")))
    return "" if a == b else f"{where}: {a!r:.200} -> {b!r:.200}"


# ------------------------------------------------------------------------------------------------ inputs

def _lie_about_shape(data: bytes, member: str, old: tuple, new: tuple) -> bytes:
    """The .npz with `member`'s .npy header claiming shape `new` (the data stays as it was)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(member)
    h = info.header_offset
    n, m = struct.unpack("<HH", data[h + 26:h + 30])
    start = h + 30 + n + m
    hlen = struct.unpack("<H", data[start + 8:start + 10])[0]
    header = data[start + 10:start + 10 + hlen].decode("latin1")
    fake = header.replace(repr(old), repr(new)).rstrip(" \n")
    assert fake != header.rstrip(" \n") and len(fake) < hlen
    fake = fake + " " * (hlen - 1 - len(fake)) + "\n"
    return data[:start + 10] + fake.encode("latin1") + data[start + 10 + hlen:]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """The damaged inputs, each alone in a folder of its own (which the tests watch)."""
    from monocap.engine.take import write_take

    root = tmp_path_factory.mktemp("bad input")

    def put(name: str, data: bytes) -> Path:
        folder = root / name.split(".")[0]
        folder.mkdir()
        p = folder / name
        p.write_bytes(data)
        return p

    good = root / "good.npz"
    take = mocap_take(CLIP, frames=20)
    write_take(good, take)
    data = good.read_bytes()
    shape = tuple(take["joints3d"].shape)
    vmd = bytearray(STAND_VMD.read_bytes())
    vmd[53] ^= 0x80  # the top bit of the bone key count: 2**31 more keys than the file holds
    pmx = bytearray(GENE.read_bytes())
    pmx[0] ^= 0x01  # "PMX " -> "QMX "
    folder = root / "folder"
    (folder / "inside.npz").mkdir(parents=True)
    return {
        "good_take": good,
        "truncated_take": put("truncated_take.npz", data[:len(data) // 2]),
        "lying_take": put("lying_take.npz", _lie_about_shape(data, "joints3d.npy", shape,
                                                             (10 ** 10, *shape[1:]))),
        "future_take": put("future_take.npz", _with_version(data, "9.0")),
        "flipped_vmd": put("flipped_vmd.vmd", bytes(vmd)),
        "truncated_vmd": put("truncated_vmd.vmd", STAND_VMD.read_bytes()[:777]),
        "flipped_pmx": put("flipped_pmx.pmx", bytes(pmx)),
        "truncated_pmx": put("truncated_pmx.pmx", GENE.read_bytes()[:4000]),
        "folder": folder / "inside.npz",
        "not_a_video": put("not_a_video.mp4", VIDEO.read_bytes()[:20_000][::-1]),
    }


def _with_version(data: bytes, version: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        arrays = {n[:-4]: np.load(io.BytesIO(zf.read(n))) for n in zf.namelist()}
    arrays["format_version"] = np.asarray(version)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ scenes

def _activate(obj: bpy.types.Object | None) -> None:
    for o in bpy.context.scene.objects:
        o.select_set(False)
    bpy.context.view_layer.objects.active = obj
    if obj is not None:
        obj.select_set(True)


def monocap_rig(baked: bool = True) -> bpy.types.Object:
    """A Monocap armature, with a baked take (20 frames) when `baked`."""
    from monocap.blender_lib.take.armature import build_armature
    from monocap.blender_lib.take.bake import bake_take

    take = mocap_take(CLIP, frames=20)
    obj = build_armature(bpy.context, "Monocap", take["joint_names"], take["parents"], take["rest_offsets"])
    if baked:
        bake_take(bpy.context, obj, take, frame_start=1)
    return obj


def gene(animated: bool = True) -> bpy.types.Object:
    """The Gene MMD skeleton, with stand.vmd on it when `animated`."""
    assert bpy.ops.monocap.import_pmx_skeleton(filepath=str(GENE)) == {"FINISHED"}
    obj = bpy.context.active_object
    if animated:
        assert bpy.ops.monocap.import_vmd(filepath=str(STAND_VMD)) == {"FINISHED"}
    return obj


def prop(animated: bool = True) -> bpy.types.Object:
    """An armature whose bones are nobody's: Lid, Hinge, Base (keys on Lid when `animated`)."""
    data = bpy.data.armatures.new("Prop")
    obj = bpy.data.objects.new("Prop", data)
    bpy.context.collection.objects.link(obj)
    _activate(obj)
    bpy.ops.object.mode_set(mode="EDIT")
    for i, n in enumerate(("Lid", "Hinge", "Base")):
        eb = data.edit_bones.new(n)
        eb.head, eb.tail = (i, 0, 0), (i, 0, 1)
    bpy.ops.object.mode_set(mode="OBJECT")
    if animated:
        pb = obj.pose.bones["Lid"]
        for f in range(1, 11):
            pb.rotation_quaternion = (1.0, 0.01 * f, 0.0, 0.0)
            pb.keyframe_insert("rotation_quaternion", frame=f)
    return obj


def mesh() -> bpy.types.Object:
    bpy.ops.mesh.primitive_cube_add()
    return bpy.context.active_object


SCENES: dict[str, Callable[[], bpy.types.Object | None]] = {
    "monocap": monocap_rig, "monocap_still": lambda: monocap_rig(baked=False), "gene": gene,
    "gene_still": lambda: gene(animated=False), "prop": prop, "prop_still": lambda: prop(animated=False),
    "mesh": mesh,
}


def stage(*makers: str, active: str | None) -> dict[str, bpy.types.Object]:
    """Build the named objects (all of them in one scene), then make `active` the only selected, active one."""
    made = {name: SCENES[name]() for name in makers}
    _activate(made[active] if active else None)
    bpy.context.scene.frame_set(1)
    return made


# ------------------------------------------------------------------------------------------------ takes

TAKE_CASES = [  # (file, scene objects, active, target, message)
    ("truncated_take", [], None, "NEW", r"truncated_take\.npz"),
    ("lying_take", [], None, "NEW", r"joints3d.*claims shape"),
    ("future_take", [], None, "NEW", r"9\.0"),
    ("folder", [], None, "NEW", r"take file not found: .*inside\.npz"),
    ("good_take", ["prop"], "prop", "SELECTED", r"no bones matching Monocap"),
    ("good_take", ["mesh"], None, "SELECTED", r"no armature is active"),
    ("good_take", ["mesh"], "mesh", "SELECTED", r"no armature is active"),
]


@pytest.mark.parametrize(("name", "makers", "active", "target", "message"), TAKE_CASES)
def test_import_take(addon, clean_scene, files, name, makers, active, target, message) -> None:
    stage(*makers, active=active)
    settings = bpy.context.scene.monocap
    settings.target = target
    try:
        refused("import_take", message, watch=files[name].parent, filepath=str(files[name]))
    finally:
        settings.target = "NEW"


RETARGET_CASES = [
    ("truncated_take", "gene_still", r"truncated_take\.npz"),
    ("lying_take", "gene_still", r"joints3d.*claims shape"),
    ("folder", "gene_still", r"take file not found"),
    ("good_take", "prop", r"none of the MMD bones"),
    ("good_take", None, r"Select an MMD armature"),
]


@pytest.mark.parametrize(("name", "active", "message"), RETARGET_CASES)
def test_retarget_take_to_mmd(addon, clean_scene, files, name, active, message) -> None:
    stage(*(["gene_still", "mesh"] if active is None else [active]), active=active)
    refused("retarget_take_mmd", message, watch=files[name].parent, filepath=str(files[name]))


# ------------------------------------------------------------------------------------------------ MMD files

@pytest.mark.parametrize(("name", "active", "message"), [
    ("flipped_vmd", "gene_still", r"flipped_vmd\.vmd"),
    ("truncated_vmd", "gene", r"truncated"),
    ("folder", "gene_still", r"inside\.npz"),
    ("good_vmd", "prop_still", r"none of the motion's"),
    ("good_vmd", None, r"Select an MMD armature"),
])
def test_import_vmd(addon, clean_scene, files, name, active, message) -> None:
    stage(*(["gene_still", "mesh"] if active is None else [active]), active=active)
    path = STAND_VMD if name == "good_vmd" else files[name]
    refused("import_vmd", message, watch=None if name == "good_vmd" else path.parent, filepath=str(path))


@pytest.mark.parametrize(("name", "message"), [
    ("flipped_pmx", r"flipped_pmx\.pmx"),
    ("truncated_pmx", r"truncated_pmx\.pmx"),
    ("folder", r"inside\.npz"),
])
def test_import_pmx_skeleton(addon, clean_scene, files, name, message) -> None:
    stage("prop", active="prop")
    refused("import_pmx_skeleton", message, watch=files[name].parent, filepath=str(files[name]))


# ------------------------------------------------------------------------------------------------ exports

def _targets(tmp_path: Path, ext: str) -> dict[str, tuple[Path, Path]]:
    """Export targets that cannot be written: (path, folder to watch)."""
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / f"a folder.{ext}").mkdir()
    ro = folder / f"read-only.{ext}"
    ro.write_bytes(b"the user's old export")
    ro.chmod(0o444)
    (folder / "a file").write_bytes(b"not a folder")
    return {"folder": (folder / f"a folder.{ext}", folder), "read_only": (ro, folder),
            "under_a_file": (folder / "a file" / f"x.{ext}", folder)}


EXPORTS = {"export_vmd": ("vmd", "gene", "prop_still"), "export_bvh": ("bvh", "monocap", "prop_still"),
           "export_fbx": ("fbx", "monocap", "prop_still")}


@pytest.mark.parametrize("idname", list(EXPORTS))
@pytest.mark.parametrize(("case", "message"), [
    ("folder", r"is a folder"),
    ("read_only", r"is read-only"),
    ("under_a_file", r"is a file, not a folder"),
    ("nothing_active", r"Select (an MMD|the) armature"),
    ("no_animation", r"no animation to export"),
])
def test_export(addon, clean_scene, tmp_path, idname, case, message) -> None:
    ext, rig, still = EXPORTS[idname]
    targets = _targets(tmp_path, ext)
    path, folder = targets.get(case, (tmp_path / "out" / f"new.{ext}", tmp_path / "out"))
    if case == "nothing_active":
        stage(rig, "mesh", active=None)
    elif case == "no_animation":
        stage(still, active=still)
    else:
        stage(rig, "mesh", active=rig)
    refused(idname, message, watch=folder, filepath=str(path))


# ------------------------------------------------------------------------------------------------ cleanup

CLEANUP = ["smooth", "reduce_keys", "fix_flips", "foot_lock"]


@pytest.mark.parametrize("idname", CLEANUP)
@pytest.mark.parametrize("active", ["prop_still", "mesh"])
def test_cleanup_without_curves(addon, clean_scene, idname, active) -> None:
    stage("monocap", active, active=active)  # an animated rig in the scene, but not the active one
    message = {"foot_lock": r"armature|no legs"}.get(idname, r"No animation curves")
    refused(idname, message)


def test_foot_lock_on_an_armature_without_legs(addon, clean_scene) -> None:
    stage("monocap", "prop", active="prop")
    refused("foot_lock", r"Prop has no legs Monocap recognises")


def test_foot_lock_from_take_contacts_without_a_take(addon, clean_scene) -> None:
    """An armature with legs but no take baked on it has no contacts to lock by."""
    stage("monocap", "monocap_still", active="monocap_still")
    refused("foot_lock", r"carries no contacts", source="TAKE")


@pytest.mark.parametrize("idname", CLEANUP)
def test_cleanup_with_nothing_active_cannot_run(addon, clean_scene, idname) -> None:
    """No active object: the operator's poll refuses (the button is greyed out), one line, nothing changes."""
    stage("monocap", active=None)
    before = snapshot()
    with pytest.raises(RuntimeError, match=r"poll\(\) failed") as info:
        getattr(bpy.ops.monocap, idname)()
    assert len(str(info.value).strip().splitlines()) == 1
    assert snapshot() == before


# ------------------------------------------------------------------------------------------------ capture
# (the sidebar's settings: conftest.capture_settings)

@pytest.mark.parametrize(("case", "message"), [
    ("video_is_a_folder", r"Video not found"),
    ("not_a_video_with_range", r"Blender cannot read not_a_video\.mp4 as a video"),
    ("no_engine", r"Engine Python not found"),
    ("selected_target_nothing_active", r"no armature is active"),
])
def test_capture_refused_before_it_starts(capture_settings, files, case, message) -> None:
    from monocap.blender_lib.engine_link.engine_python import preferences

    s = capture_settings
    stage("monocap", active=None)
    if case == "video_is_a_folder":
        s.video = str(files["folder"])
    elif case == "not_a_video_with_range":
        s.video = str(files["not_a_video"])
    elif case == "no_engine":
        preferences().engine_python = "/nonexistent/python3"
    else:
        s.target = "SELECTED"
    refused("capture", message)
    assert not s.running


@pytest.mark.skipif(not ENGINE_PY.is_file(), reason="needs the engine venv (.venv)")
def test_capture_of_a_damaged_video_reports_the_engines_line(capture_settings, files) -> None:
    s = capture_settings
    stage("monocap", active="monocap")
    s.video, s.use_range = str(files["not_a_video"]), False
    refused("capture", r"^Capture failed: .*not_a_video\.mp4", watch=files["not_a_video"].parent)
    assert not s.running


@pytest.mark.skipif(not ENGINE_PY.is_file(), reason="needs the engine venv (.venv)")
def test_capture_onto_an_armature_without_the_bones_bakes_nothing(capture_settings) -> None:
    """The engine succeeds; the bake onto the selected armature fails: nothing of it stays."""
    s = capture_settings
    stage("monocap", "prop", active="prop")
    s.target, s.video_end = "SELECTED", 5
    last = s.last_take
    refused("capture", r"no bones matching Monocap")
    assert not s.running
    assert s.last_take != last and os.path.isfile(s.last_take)  # the take is kept, to import elsewhere


# ------------------------------------------------------------------------------------------------ set-up

@pytest.mark.parametrize(("case", "message"), [
    ("missing", r"requirements file not found"),
    ("folder", r"requirements file not found"),
    ("not_text", r"requirements file .*not UTF-8 text"),
])
def test_setup_engine_with_bad_requirements(addon, clean_scene, tmp_path, case, message) -> None:
    """Refused before a venv is made: nothing appears in the folder."""
    reqs = tmp_path / "requirements.txt"
    if case == "folder":
        reqs.mkdir()
    elif case == "not_text":
        reqs.write_bytes(b"torch==2.0\n\xff\xfe\x00garbage\n")
    stage("monocap", active="monocap")
    refused("setup_engine", rf"^Engine set-up failed: {message}", watch=tmp_path, venv=str(tmp_path / "venv"),
            requirements=str(reqs))


@pytest.mark.parametrize(("idname", "props", "message"), [
    ("import_take", {"filepath": "good_take"}, r"no bones matching Monocap"),
    ("retarget_take_mmd", {"filepath": "good_take"}, r"none of the MMD bones"),
    ("import_vmd", {"filepath": str(STAND_VMD)}, r"none of the motion's"),
    ("export_vmd", {"filepath": "new.vmd"}, r"no animation to export"),
    ("export_bvh", {"filepath": "a folder.bvh"}, r"is a folder"),
    ("foot_lock", {}, r"no legs Monocap recognises"),
])
def test_an_armature_in_pose_mode_stays_in_pose_mode(addon, clean_scene, files, tmp_path, idname, props,
                                                     message) -> None:
    """The wrong armature, active in Pose mode: refused, and still in Pose mode with its pose."""
    maker = "prop_still" if idname == "export_vmd" else "prop"
    obj = stage(maker, active=maker)[maker]
    bpy.ops.object.mode_set(mode="POSE")
    obj.pose.bones["Hinge"].rotation_quaternion = (0.9, 0.1, 0.2, 0.3)
    (tmp_path / "a folder.bvh").mkdir()
    props = {k: str(files[v]) if v in files else v if os.path.isabs(v) else str(tmp_path / v)
             for k, v in props.items()}
    settings = bpy.context.scene.monocap
    settings.target = "SELECTED"
    try:
        refused(idname, message, **props)
    finally:
        settings.target = "NEW"
    assert obj.mode == "POSE"
    bpy.ops.object.mode_set(mode="OBJECT")
