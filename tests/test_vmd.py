"""VMD reader/writer: byte-exact round trips of every shared motion, sections, names, curves, sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import BadInput, FormatError
from engine.formats.vmd import (
    LINEAR_CURVE,
    VmdBoneKeys,
    VmdCameraKeys,
    VmdIkState,
    VmdMorphKeys,
    VmdMotion,
    VmdPropertyKey,
    bezier_ease,
    curves_to_interpolation,
    ik_enabled,
    interpolation_to_curves,
    physics_off,
    read_vmd,
    sample_bones,
    sample_track,
    vmd_to_bytes,
    write_vmd,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmd"
VMD_FILES = sorted((DATA / "gene" / "motion").glob("*.vmd")) + sorted((DATA / "babylon-mmd").glob("*.vmd"))
STAND = DATA / "gene" / "motion" / "stand.vmd"


def test_shared_files_exist():
    assert len(VMD_FILES) == 43


@pytest.mark.parametrize("path", VMD_FILES, ids=lambda p: p.name)
def test_round_trip_is_byte_exact(path: Path, tmp_path: Path):
    data = path.read_bytes()
    motion = read_vmd(path)
    assert vmd_to_bytes(motion) == data
    write_vmd(tmp_path / "out.vmd", motion)
    assert (tmp_path / "out.vmd").read_bytes() == data
    assert vmd_to_bytes(read_vmd(data)) == data  # from bytes as well as from a path


def test_stand_contents():
    m = read_vmd(STAND)
    assert m.version == 2 and m.model_name == "ジェネ / Gene"
    bones = m.bone_keys
    assert len(bones) == 470 and len(set(bones.name_table)) == 222
    assert {"センター", "左足ＩＫ", "右つま先ＩＫ", "上半身2", "左ひじ"} <= set(bones.name_table)
    assert sorted(set(bones.frame.tolist())) == [0, 30, 60, 90, 120]
    assert bones.position.dtype == np.float32 and bones.rotation.shape == (470, 4)
    # Rotations are unit quaternions (x, y, z, w).
    assert np.allclose(np.linalg.norm(bones.rotation, axis=1), 1.0, atol=1e-5)
    assert len(m.morph_keys) == 184 and len(m.camera_keys) == len(m.light_keys) == len(m.shadow_keys) == 0
    (key,) = m.property_keys
    assert key.frame == 0 and key.visible == 1
    states = {s.name: s.enabled for s in key.ik}
    assert states["左足ＩＫ"] == 1 and states["右つま先ＩＫ"] == 1 and len(states) == 6
    assert m.frame_count() == 121


def test_split_character_in_model_name_is_replaced_and_kept():
    path = DATA / "gene" / "motion" / "00_normal.vmd"
    m = read_vmd(path)
    # The 20-byte field cuts a double-byte character in half and has no NUL.
    assert len(m.model_name_raw) == 20 and b"\0" not in m.model_name_raw
    assert m.model_name.startswith("ニルヴァ / Nirva") and m.model_name.endswith("\ufffd")
    assert len(m.bone_keys) == 0 and len(m.morph_keys) == 449
    assert vmd_to_bytes(m) == path.read_bytes()


def test_garbage_after_nul_is_kept():
    # The shared files pad with zeros; other writers leave garbage after the NUL. Plant some in the
    # first two keys (全ての親 and センター at frame 0), one with half a double-byte character.
    data = bytearray(STAND.read_bytes())
    data[54:54 + 15] = "全ての親".encode("cp932") + b"\0junk!!"
    data[54 + 111:54 + 111 + 15] = "センター".encode("cp932") + b"\0\x83\x5a\x83\xff\x00\x01"
    m = read_vmd(bytes(data))
    original = read_vmd(STAND)
    assert m.bone_keys.names == original.bone_keys.names
    raw = m.bone_keys.name_raw
    assert raw[m.bone_keys.name_id[0]].endswith(b"junk!!") and raw[m.bone_keys.name_id[1]].endswith(b"\x01")
    assert vmd_to_bytes(m) == bytes(data)
    # One bone under two stored spellings: select() still finds all of its keys.
    for name in ("全ての親", "センター"):
        assert np.array_equal(m.bone_keys.select(name), original.bone_keys.select(name))


def test_physics_toggle_bytes():
    m = read_vmd(DATA / "babylon-mmd" / "physics_toggle_test_v2_yyb10th.vmd")
    assert m.bone_keys.names == ["D4", "D4", "D4"]
    off = physics_off(m.bone_keys.interpolation)
    assert m.bone_keys.frame.tolist() == [0, 20, 21] and off.tolist() == [False, False, True]
    m = read_vmd(DATA / "babylon-mmd" / "physics_toggle_test_yyb10th.vmd")
    assert physics_off(m.bone_keys.interpolation).sum() == 9


def _section_ends(data: bytes) -> list[int]:
    """Byte offsets where each of the six sections of a v2 file ends (computed independently)."""
    pos = 50
    ends = []
    for size in (111, 23, 61, 28, 9):
        count = int.from_bytes(data[pos:pos + 4], "little")
        pos += 4 + count * size
        ends.append(pos)
    count = int.from_bytes(data[pos:pos + 4], "little")
    pos += 4
    for _ in range(count):
        n = int.from_bytes(data[pos + 5:pos + 9], "little")
        pos += 9 + 21 * n
    ends.append(pos)
    return ends


def test_files_may_end_after_any_section():
    data = STAND.read_bytes()
    ends = [50] + _section_ends(data)
    assert ends[-1] == len(data)
    full = read_vmd(data)
    for k, end in enumerate(ends):
        m = read_vmd(data[:end])
        assert m.section_count == k
        assert len(m.bone_keys) == (len(full.bone_keys) if k >= 1 else 0)
        assert len(m.morph_keys) == (len(full.morph_keys) if k >= 2 else 0)
        assert len(m.property_keys) == (1 if k >= 6 else 0)
        assert vmd_to_bytes(m) == data[:end]
        m.section_count = 6  # written in full, the empty sections come back as zero counts
        out = vmd_to_bytes(m)
        assert read_vmd(out).section_count == 6 and len(out) == end + 4 * (6 - k)


def test_truncated_inside_a_section_names_the_offset():
    data = STAND.read_bytes()
    with pytest.raises(FormatError, match=r"bone key count 470 at byte 50"):
        read_vmd(data[:50 + 4 + 111 * 3])
    with pytest.raises(FormatError, match=r"at byte 50"):
        read_vmd(data[:52])
    with pytest.raises(FormatError, match="not a VMD file"):
        read_vmd(b"Vocaloid Motion Data 0003" + data[25:])
    with pytest.raises(FormatError, match="header"):
        read_vmd(data[:40])


def test_trailing_bytes_are_kept():
    data = STAND.read_bytes() + b"extra"
    m = read_vmd(data)
    assert m.trailing == b"extra" and vmd_to_bytes(m) == data


def test_old_header_with_ten_byte_model_name():
    stand = STAND.read_bytes()
    body = stand[50:]
    old = b"Vocaloid Motion Data file".ljust(30, b"\0") + "ジェネ".encode("cp932").ljust(10, b"\0") + body
    m = read_vmd(old)
    assert m.version == 1 and m.model_name == "ジェネ"
    new = read_vmd(stand)
    assert m.bone_keys.names == new.bone_keys.names
    assert np.array_equal(m.bone_keys.rotation, new.bone_keys.rotation)
    assert vmd_to_bytes(m) == old
    # A version-1 motion built from scratch refuses model names over 10 bytes.
    with pytest.raises(BadInput, match="at most 10"):
        vmd_to_bytes(VmdMotion(model_name="モデル名前長い", version=1))


def test_build_write_read_back(tmp_path: Path):
    rng = np.random.default_rng(0)
    names = ["センター", "左足ＩＫ", "上半身2", "左足ＩＫ", "ａｂｃｄｅｆｇ"]  # the last is 14 bytes
    rot = rng.normal(size=(5, 4)).astype(np.float32)
    rot /= np.linalg.norm(rot, axis=1, keepdims=True)
    bones = VmdBoneKeys.build(names, [0, 3, 7, 9, 2 ** 32 - 1], rng.normal(size=(5, 3)), rot)
    morphs = VmdMorphKeys.build(["まばたき", "あ"], [1, 2], [0.5, 1.0])
    cam = VmdCameraKeys.zeros(2)
    cam.frame[:] = [0, 10]
    cam.view_angle[:] = 30
    motion = VmdMotion(model_name="テスト", bone_keys=bones, morph_keys=morphs, camera_keys=cam,
                       property_keys=[VmdPropertyKey(0, 1, [VmdIkState("左足ＩＫ", 0)])])
    write_vmd(tmp_path / "a.vmd", motion)
    back = read_vmd(tmp_path / "a.vmd")
    assert back.model_name == "テスト"
    assert back.bone_keys.names == names
    assert np.array_equal(back.bone_keys.frame, [0, 3, 7, 9, 2 ** 32 - 1])
    assert np.array_equal(back.bone_keys.rotation, rot)
    assert np.array_equal(back.bone_keys.position, np.asarray(bones.position, np.float32))
    assert (interpolation_to_curves(back.bone_keys.interpolation) == LINEAR_CURVE).all()
    assert back.morph_keys.names == ["まばたき", "あ"] and back.morph_keys.weight.tolist() == [0.5, 1.0]
    assert back.camera_keys.view_angle.tolist() == [30, 30]
    assert back.property_keys[0].ik[0].name == "左足ＩＫ" and back.property_keys[0].ik[0].enabled == 0
    assert vmd_to_bytes(back) == (tmp_path / "a.vmd").read_bytes()


def test_writer_lists_every_bad_name_at_once(tmp_path: Path):
    bones = VmdBoneKeys.build(["センター", "とても長いボーンの名前", "emoji😀", "ok"], np.arange(4))
    morphs = VmdMorphKeys.build(["morph_name_is_too_long"], [0], [1.0])
    motion = VmdMotion(model_name="x" * 21, bone_keys=bones, morph_keys=morphs)
    with pytest.raises(BadInput) as info:
        write_vmd(tmp_path / "bad.vmd", motion)
    msg = str(info.value)
    for bad in ("とても長いボーンの名前", "emoji😀", "morph_name_is_too_long", "x" * 21):
        assert bad in msg
    assert "'センター'" not in msg and "'ok'" not in msg
    assert not (tmp_path / "bad.vmd").exists()


def test_renamed_entry_is_encoded_afresh():
    m = read_vmd(STAND)
    j = m.bone_keys.name_table.index("センター")
    m.bone_keys.name_table[j] = "センター2"
    back = read_vmd(vmd_to_bytes(m))
    assert "センター2" in back.bone_keys.name_table and "センター" not in back.bone_keys.name_table


def test_curves_layout_matches_real_blocks():
    # Outside the three stray tail bytes of rows 1-3, every real block is the canonical layout.
    tail = np.zeros(64, bool)
    tail[[31, 46, 47, 61, 62, 63]] = True
    checked = 0
    for path in VMD_FILES:
        blk = read_vmd(path).bone_keys.interpolation
        rebuilt = curves_to_interpolation(interpolation_to_curves(blk), physics_off(blk))
        assert np.array_equal(rebuilt[:, ~tail], blk[:, ~tail]), path.name
        checked += len(blk)
    assert checked > 10000


def test_curves_round_trip_random():
    rng = np.random.default_rng(1)
    curves = rng.integers(0, 128, size=(500, 4, 4))
    off = rng.random(500) < 0.5
    blk = curves_to_interpolation(curves, off)
    assert np.array_equal(interpolation_to_curves(blk), curves)
    assert np.array_equal(physics_off(blk), off)
    # Row 0 interleaves the curves: x1 of X, Y, Z, R first (bytes 2, 3 then hold the physics switch).
    assert blk[0, 0] == curves[0, 0, 0] and blk[0, 1] == curves[0, 1, 0]
    assert blk[0, 4] == curves[0, 0, 1] and blk[0, 16] == curves[0, 1, 0]


def test_bezier_ease():
    t = np.linspace(0, 1, 101)
    assert np.allclose(bezier_ease(np.array(LINEAR_CURVE), t), t, atol=1e-6)
    ease = np.array([100, 0, 27, 127])  # slow-fast-slow, symmetric about (0.5, 0.5)
    y = bezier_ease(ease, t)
    assert y[0] == 0 and y[-1] == 1 and y[50] == pytest.approx(0.5, abs=1e-6)
    assert np.all(np.diff(y) >= -1e-9) and y[10] < 0.1 and np.allclose(y + y[::-1], 1.0, atol=1e-6)
    # (127, 0, 0, 127) has a vertical tangent at the middle: y there is only defined to ~1e-5.
    assert bezier_ease(np.array([127, 0, 0, 127]), 0.5) == pytest.approx(0.5, abs=1e-4)
    # A point on the curve from its parametric form.
    x1, y1, x2, y2 = 30 / 127, 90 / 127, 100 / 127, 20 / 127
    s = 0.3
    bx = 3 * (1 - s) ** 2 * s * x1 + 3 * (1 - s) * s * s * x2 + s ** 3
    by = 3 * (1 - s) ** 2 * s * y1 + 3 * (1 - s) * s * s * y2 + s ** 3
    assert bezier_ease(np.array([30, 90, 100, 20]), bx) == pytest.approx(by, abs=1e-6)


def _quat_y(deg: float) -> np.ndarray:
    h = np.radians(deg) / 2
    return np.array([0, np.sin(h), 0, np.cos(h)])  # x y z w


def test_sample_track_linear_and_slerp():
    frames = np.array([0, 10, 20])
    pos = np.array([[0, 0, 0], [10, 0, 0], [10, 20, 0]], float)
    rot = np.stack([_quat_y(0), _quat_y(90), _quat_y(90)])
    interp = curves_to_interpolation(np.array([LINEAR_CURVE] * 4))[None].repeat(3, 0)
    p, r = sample_track(frames, pos, rot, interp, np.array([-5, 0, 5, 10, 15, 20, 30]))
    assert np.allclose(p[:, 0], [0, 0, 5, 10, 10, 10, 10]) and np.allclose(p[:, 1], [0, 0, 0, 0, 10, 20, 20])
    assert np.allclose(r[2], _quat_y(45)) and np.allclose(r[0], _quat_y(0)) and np.allclose(r[-1], _quat_y(90))
    # An eased rotation curve on the second key: at mid-segment still 45° (symmetric), early much less.
    interp[1] = curves_to_interpolation(np.array([LINEAR_CURVE] * 3 + [(100, 0, 27, 127)]))
    _, r = sample_track(frames, pos, rot, interp, np.array([1, 5]))
    assert np.allclose(r[1], _quat_y(45), atol=1e-6)
    assert 2 * np.degrees(np.arcsin(r[0, 1])) < 1.0


def test_sample_bones_and_select():
    m = read_vmd(STAND)
    names = ["センター", "左足IK", "存在しない"]  # ASCII IK matches 左足ＩＫ after NFKC
    pos, rot = sample_bones(m.bone_keys, names, np.arange(121))
    keys = m.bone_keys
    idx = keys.select("左足ＩＫ")
    assert len(idx) == 5 and np.array_equal(keys.frame[idx], [0, 30, 60, 90, 120])
    assert np.allclose(pos[30, 1], keys.position[idx[1]], atol=1e-6)
    assert np.allclose(rot[:, 2], [0, 0, 0, 1]) and np.allclose(pos[:, 2], 0)
    assert ik_enabled(m, ["左足ＩＫ", "左足IK"], np.arange(3)).all()


def test_ik_switch_steps():
    motion = VmdMotion(property_keys=[VmdPropertyKey(10, 1, [VmdIkState("左足ＩＫ", 0)]),
                                      VmdPropertyKey(20, 1, [VmdIkState("左足ＩＫ", 1)])])
    on = ik_enabled(motion, ["左足ＩＫ", "右足ＩＫ"], np.arange(25))
    assert on[:10, 0].all() and not on[10:20, 0].any() and on[20:, 0].all() and on[:, 1].all()
