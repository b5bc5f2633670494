"""PMX reader: every shared model, bones and IK of Gene, and hand-built files for the other encodings."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from engine.errors import FormatError
from engine.formats import pmx as P
from engine.formats.pmx import read_pmx

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmd"
GENE = DATA / "gene" / "Gene.pmx"
BABYLON = sorted((DATA / "babylon-mmd").glob("*.pmx"))


@pytest.fixture(scope="module")
def gene():
    return read_pmx(GENE)


def test_gene_header_and_counts(gene):
    assert gene.version == 2.0 and gene.encoding == "utf-16-le" and gene.additional_uv == 0
    assert (gene.vertex_index_size, gene.texture_index_size, gene.material_index_size) == (2, 1, 1)
    assert (gene.bone_index_size, gene.morph_index_size, gene.rigid_body_index_size) == (2, 2, 1)
    assert gene.name == "ジェネ / Gene"
    # Counts from the model's README.
    assert gene.vertex_count == 28646 and gene.face_count == 47106 and len(gene.material_names) == 13
    assert len(gene.bones) == 224
    assert gene.offsets["vertices"] < gene.offsets["faces"] < gene.offsets["bones"] < gene.offsets["morphs"]


def test_gene_bones(gene):
    names = [b.name for b in gene.bones]
    for name in ("全ての親", "センター", "グルーブ", "上半身", "上半身2", "首", "頭", "左肩", "左腕", "左ひじ",
                 "左手首", "左足", "左ひざ", "左足首", "左足ＩＫ", "右つま先ＩＫ", "左親指０"):
        assert name in names
    center = gene.bones[gene.bone_index("センター")]
    assert center.index == 1 and center.parent == gene.bone_index("全ての親") == 0
    assert center.translatable and center.rotatable and center.visible and not center.is_ik
    arm = gene.bones[gene.bone_index("左腕")]
    elbow = gene.bones[gene.bone_index("左ひじ")]
    assert gene.bones[elbow.parent].name == "左腕捩" and gene.bones[gene.bones[elbow.parent].parent] is arm
    assert arm.position[0] > 0  # the model faces -Z: its left side is +X
    assert np.allclose(arm.position, (1.3334, 15.3609, 0.0704), atol=1e-4)  # A-pose: the arm slopes down
    assert np.allclose(elbow.position, (3.6949, 13.7688, 0.1394), atol=1e-4)
    # Tail as a bone index and as an offset.
    shoulder = gene.bones[gene.bone_index("左肩")]
    assert shoulder.flags & P.TAIL_IS_BONE and gene.bones[shoulder.tail_bone].name == "左腕"
    assert gene.bones[gene.bone_index("センター")].tail_bone == -1
    # Twist bones: fixed axis; their followers: rotation append with ratio 0.5.
    twist = gene.bones[gene.bone_index("左腕捩")]
    assert twist.fixed_axis is not None and abs(np.linalg.norm(twist.fixed_axis) - 1) < 1e-3
    follow = gene.bones[gene.bone_index("左腕捩連")]
    assert follow.append_rotate and not follow.append_translate
    assert gene.bones[follow.append_parent].name == "左腕捩" and follow.append_ratio == pytest.approx(0.5)
    eye = gene.bones[gene.bone_index("左目")]
    assert gene.bones[eye.append_parent].name == "両目" and eye.append_ratio == pytest.approx(0.15)
    # The lower-body deform layer: IK bones at layer 1, the physics-driven hair ends after physics.
    assert gene.bones[gene.bone_index("左足ＩＫ")].layer == 1
    assert gene.bones[gene.bone_index("前髪1End")].after_physics


def test_gene_leg_ik(gene):
    ik_bones = [b.name for b in gene.bones if b.is_ik]
    assert ik_bones == ["右腕xcIK", "左足ＩＫ", "左つま先ＩＫ", "右足ＩＫ", "右つま先ＩＫ", "前クローク2_1xcIK"]
    leg = gene.bones[gene.bone_index("左足ＩＫ")]
    assert leg.flags == 0x3F
    assert gene.bones[leg.ik.target].name == "左足首"
    assert leg.ik.loop_count == 40 and leg.ik.limit_angle == pytest.approx(np.radians(115), abs=1e-5)
    knee, hip = leg.ik.links
    assert gene.bones[knee.bone].name == "左ひざ" and gene.bones[hip.bone].name == "左足"
    # The knee bends one way only, about X: -165° .. +10°.
    assert np.allclose(knee.limit_min, (np.radians(-165), 0, 0), atol=1e-5)
    assert np.allclose(knee.limit_max, (np.radians(10), 0, 0), atol=1e-5)
    assert hip.limit_min is None and hip.limit_max is None
    toe = gene.bones[gene.bone_index("右つま先ＩＫ")]
    assert gene.bones[toe.parent].name == "右足ＩＫ" and gene.bones[toe.ik.target].name == "右足先"
    assert [gene.bones[lk.bone].name for lk in toe.ik.links] == ["右足首"] and toe.ik.loop_count == 3
    # ASCII "IK" finds the full-width name after NFKC normalisation.
    assert gene.bone_index("左足IK") == gene.bone_index("左足ＩＫ") and gene.bone_index("nope") == -1


def test_babylon_models():
    models = {p.name: read_pmx(p) for p in BABYLON}
    assert sorted(models) == ["bone_flag_test.pmx", "bone_hierarchy_test.pmx", "bone_hierarchy_test2.pmx",
                              "constraint_test.pmx", "uv_morph_test.pmx"]
    flags = models["bone_flag_test.pmx"]
    assert [b.name for b in flags.bones] == ["センター", "新規ボーン2", "新規ボーン1"]
    b2 = flags.bones[1]
    assert b2.flags == 0x39A and b2.flags & P.APPEND_LOCAL and b2.flags & P.APPEND_ROTATE
    assert b2.append_parent == -1 and not b2.append_rotate  # flag set, no source: no append
    hier = models["bone_hierarchy_test.pmx"]
    assert [b.parent for b in hier.bones] == [-1, 0, -1, 0, -1]
    assert hier.bones[2].tail_bone == 0 and hier.bones[2].position == (5.0, 10.0, 0.0)
    hier2 = models["bone_hierarchy_test2.pmx"]
    assert [b.parent for b in hier2.bones] == [-1, 2, 0]  # a parent listed after its child
    assert models["uv_morph_test.pmx"].name == "Uv Morph Test"
    assert models["uv_morph_test.pmx"].vertex_count == 24 and models["constraint_test.pmx"].vertex_count == 48


# ---------------------------------------------------------------------------------------------- hand-built

def _text(s: str, enc: str) -> bytes:
    data = s.encode(enc)
    return struct.pack("<i", len(data)) + data


def _idx(i: int, size: int, unsigned: bool = False) -> bytes:
    fmt = {1: "B" if unsigned else "b", 2: "H" if unsigned else "h", 4: "i"}[size]
    return struct.pack("<" + fmt, i)


def build_pmx(encoding: int = 1, version: float = 2.1, extra_uv: int = 2, sizes=(4, 4, 4, 4, 4, 4)) -> bytes:
    """A small model: one vertex of each weight type, a face, a texture, a material, and three bones
    (a root, a leg with append and local axes, an IK bone with a limited link)."""
    enc = "utf-16-le" if encoding == 0 else "utf-8"
    vs, ts, ms, bs, mos, rs = sizes
    out = [b"PMX ", struct.pack("<f", version), bytes([8, encoding, extra_uv, vs, ts, ms, bs, mos, rs])]
    out += [_text("テスト", enc), _text("test", enc), _text("コメント", enc), _text("", enc)]
    weights = [
        bytes([0]) + _idx(0, bs),
        bytes([1]) + _idx(0, bs) + _idx(1, bs) + struct.pack("<f", 0.25),
        bytes([2]) + b"".join(_idx(i % 3, bs) for i in range(4)) + struct.pack("<4f", 0.1, 0.2, 0.3, 0.4),
        bytes([3]) + _idx(0, bs) + _idx(1, bs) + struct.pack("<f", 0.5) + struct.pack("<9f", *range(9)),
        bytes([4]) + b"".join(_idx(i % 3, bs) for i in range(4)) + struct.pack("<4f", 0.25, 0.25, 0.25, 0.25),
    ]
    out.append(struct.pack("<i", len(weights)))
    for k, w in enumerate(weights):
        out.append(struct.pack("<8f", k, 0, 0, 0, 1, 0, 0.5, 0.5) + struct.pack(f"<{4 * extra_uv}f",
                                                                             *[0.0] * 4 * extra_uv))
        out.append(w + struct.pack("<f", 1.0))
    out.append(struct.pack("<i", 3) + b"".join(_idx(i, vs, unsigned=True) for i in (0, 1, 2)))
    out.append(struct.pack("<i", 1) + _text("tex/body.png", enc))
    out.append(struct.pack("<i", 1) + _text("体", enc) + _text("body", enc))
    out.append(struct.pack("<4f3ff3f", 1, 1, 1, 1, 0, 0, 0, 5, 0.5, 0.5, 0.5) + bytes([1]))
    out.append(struct.pack("<4ff", 0, 0, 0, 1, 1) + _idx(0, ts) + _idx(-1, ts) + bytes([0, 1, 3]))
    out.append(_text("memo", enc) + struct.pack("<i", 3))
    out.append(struct.pack("<i", 3))
    # Bone 0: root, tail offset.
    out.append(_text("センター", enc) + _text("center", enc) + struct.pack("<3f", 0, 8, 0) + _idx(-1, bs)
               + struct.pack("<iH", 0, 0x001E) + struct.pack("<3f", 0, 1, 0))
    # Bone 1: append rotate+translate, fixed axis, local axes, external parent.
    flags = 0x0001 | 0x0002 | 0x0100 | 0x0200 | 0x0400 | 0x0800 | 0x2000
    out.append(_text("左足", enc) + _text("leg_L", enc) + struct.pack("<3f", 1, 6, 0) + _idx(0, bs)
               + struct.pack("<iH", 0, flags) + _idx(2, bs) + _idx(0, bs) + struct.pack("<f", -0.5)
               + struct.pack("<3f", 1, 0, 0) + struct.pack("<6f", 1, 0, 0, 0, 0, 1) + struct.pack("<i", 7))
    # Bone 2: IK bone targeting bone 1 through bone 0, the link limited on X.
    out.append(_text("左足ＩＫ", enc) + _text("leg IK_L", enc) + struct.pack("<3f", 1, 1, 0) + _idx(-1, bs)
               + struct.pack("<iH", 1, 0x003E) + struct.pack("<3f", 0, 0, 1)
               + _idx(1, bs) + struct.pack("<if", 40, 2.0) + struct.pack("<i", 2)
               + _idx(0, bs) + bytes([1]) + struct.pack("<6f", -3, 0, 0, 0.2, 0, 0)
               + _idx(1, bs) + bytes([0]))
    out.append(struct.pack("<i", 0))  # morphs (not parsed)
    return b"".join(out)


@pytest.mark.parametrize("encoding", [0, 1])
@pytest.mark.parametrize("sizes", [(4, 4, 4, 4, 4, 4), (1, 1, 1, 1, 1, 1), (2, 2, 2, 2, 2, 2), (2, 1, 4, 2, 1, 4)])
def test_hand_built(encoding: int, sizes):
    data = build_pmx(encoding=encoding, sizes=sizes)
    m = read_pmx(data)
    assert m.encoding == ("utf-16-le" if encoding == 0 else "utf-8") and m.version == 2.1
    assert (m.name, m.name_en, m.comment) == ("テスト", "test", "コメント") and m.additional_uv == 2
    assert m.vertex_count == 5 and m.face_count == 1 and m.textures == ["tex/body.png"]
    assert m.material_names == ["体"]
    root, leg, ik = m.bones
    assert root.name == "センター" and root.tail_offset == (0.0, 1.0, 0.0) and root.parent == -1
    assert leg.name_en == "leg_L" and leg.tail_bone == 2 and leg.append_parent == 0
    assert leg.append_rotate and leg.append_translate and leg.append_ratio == -0.5
    assert leg.fixed_axis == (1.0, 0.0, 0.0) and leg.local_x == (1.0, 0.0, 0.0) and leg.local_z == (0.0, 0.0, 1.0)
    assert leg.external_key == 7
    assert ik.layer == 1 and ik.ik.target == 1 and ik.ik.loop_count == 40 and ik.ik.limit_angle == 2.0
    assert [lk.bone for lk in ik.ik.links] == [0, 1]
    assert ik.ik.links[0].limit_min == (-3.0, 0.0, 0.0) and ik.ik.links[0].limit_max[0] == pytest.approx(0.2)
    assert ik.ik.links[1].limit_min is None
    assert m.offsets["morphs"] == len(data) - 4


def test_pmx_20_with_extra_uvs():
    m = read_pmx(build_pmx(encoding=0, version=2.0, extra_uv=4))
    assert m.version == 2.0 and m.additional_uv == 4 and len(m.bones) == 3


def test_damaged_headers_and_references():
    good = build_pmx()
    with pytest.raises(FormatError, match="not a PMX file"):
        read_pmx(b"PMD " + good[4:])
    with pytest.raises(FormatError, match="version 3 at byte 4"):
        read_pmx(good[:4] + struct.pack("<f", 3.0) + good[8:])
    bad = bytearray(good)
    bad[11] = 3  # the index size of vertices
    with pytest.raises(FormatError, match="index size 3 at byte 11"):
        read_pmx(bytes(bad))
    with pytest.raises(FormatError, match="at byte"):
        read_pmx(good[: len(good) // 2])
    # A bone whose parent points past the bone list.
    m = read_pmx(good)
    at = m.offsets["bones"] + 4
    name_len = 4 + len("センター".encode()) + 4 + len(b"center")
    bad = bytearray(good)
    bad[at + name_len + 12:at + name_len + 16] = struct.pack("<i", 99)
    with pytest.raises(FormatError, match=r"bone 0 \(センター\) at byte \d+ has parent 99"):
        read_pmx(bytes(bad))
    # A parent loop: bone 0's parent is bone 1, whose parent is bone 0.
    bad[at + name_len + 12:at + name_len + 16] = struct.pack("<i", 1)
    with pytest.raises(FormatError, match="loops"):
        read_pmx(bytes(bad))
    # A vertex count larger than the file.
    bad = bytearray(good)
    bad[m.offsets["vertices"]:m.offsets["vertices"] + 4] = struct.pack("<i", 10 ** 9)
    with pytest.raises(FormatError, match=f"vertex count 1000000000 at byte {m.offsets['vertices']}"):
        read_pmx(bytes(bad))


def test_missing_file_is_bad_input(tmp_path: Path):
    from engine.errors import BadInput

    with pytest.raises(BadInput, match="cannot read PMX"):
        read_pmx(tmp_path / "nope.pmx")
