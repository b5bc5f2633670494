"""The CMU skeletons mapped onto the canonical one (engine/lifter/mocap_retarget.py) and their place in training."""

from __future__ import annotations

import numpy as np
import pytest

from engine import skeleton as sk
from engine.formats.bvh import read_bvh
from engine.lifter import data as D
from engine.lifter import keypoints as kp
from engine.lifter import mocap_retarget as mr

CLIPS = {"daz": "cmu-salsa/60_01_scaled.bvh", "cc-dance": "cmu-iclone/005_01.bvh", "cc-walk": "cmu-iclone/007_01.bvh",
         "cc-root": None}


@pytest.fixture(scope="module")
def mapped(shared_data):
    out = {}
    for key, rel in CLIPS.items():
        if rel is None:  # one of the files with an RL_BoneRoot above the hip
            rel = next(f"cmu-iclone/{p.name}" for p in sorted((shared_data / "mocap" / "cmu-iclone").glob("*.bvh"))
                       if "ROOT RL_BoneRoot" in p.read_text()[:200])
        b = read_bvh(shared_data / "mocap" / rel)
        joints, kps, facts = mr.place_on_foreign(b)
        out[key] = (b, joints.astype(np.float64), kps.astype(np.float64), facts)
    return out


def test_tables_recognise_the_skeletons(mapped, shared_data) -> None:
    assert mapped["daz"][3]["skeleton"] == "daz"
    for key in ("cc-dance", "cc-walk", "cc-root"):
        assert mapped[key][3]["skeleton"] == "character-creator"
    bandai = read_bvh(next((shared_data / "mocap" / "bandai-namco-1").glob("*.bvh")))
    assert mr.table_for(bandai.names) is None


@pytest.mark.parametrize("key", list(CLIPS))
def test_canonical_body(mapped, key) -> None:
    """Every bone between joint centres has its canonical length, the feet stand on the floor, the body is upright
    and its left is on the left (as the canonical T-pose: left +X when facing +Z)."""
    _, J, K, _ = mapped[key]
    lengths = sk.bone_lengths(J)
    rest = sk.bone_lengths(sk.rest_positions())
    for name in ("Chest", "Neck", "Head", "UpperArm_L", "LowerArm_R", "Hand_L", "LowerLeg_L", "Foot_R", "Toes_L",
                 "ToeTip_R", "Heel_L", "Nose"):
        np.testing.assert_allclose(lengths[:, sk.INDEX[name]], rest[sk.INDEX[name]], rtol=1e-4, err_msg=name)
    soles = J[:, [sk.INDEX[n] for n in ("Heel_L", "ToeTip_L", "Heel_R", "ToeTip_R")], 1].min(1)
    assert abs(np.percentile(soles, 5) - 0.02) < 1e-3
    assert 0.80 < np.median(J[:, sk.INDEX["Hips"], 1]) < 1.0
    assert np.all(J[:, sk.INDEX["Head"], 1] > J[:, sk.INDEX["Hips"], 1] - 0.3)
    # left of the pelvis: the hip joints' left-right axis; forward: left x up
    lat = J[:, sk.INDEX["UpperLeg_L"]] - J[:, sk.INDEX["UpperLeg_R"]]
    fwd = np.cross(lat, [0.0, 1.0, 0.0])
    assert np.mean(np.sum((J[:, sk.INDEX["UpperArm_L"]] - J[:, sk.INDEX["UpperArm_R"]]) * lat, -1) > 0) > 0.9
    nose = J[:, sk.INDEX["Nose"]] - J[:, sk.INDEX["Head"]]
    assert np.mean(np.sum(nose * fwd, -1) > 0) > 0.9  # the face looks forward
    toes = J[:, sk.INDEX["Toes_L"]] - J[:, sk.INDEX["Foot_L"]]
    assert np.mean(np.sum(toes * fwd, -1) > 0) > 0.75  # the feet point forward (swinging feet point down)


@pytest.mark.parametrize("key", list(CLIPS))
def test_keypoints_sit_on_the_body(mapped, key) -> None:
    _, J, K, _ = mapped[key]
    N = kp.KEYPOINT_NAMES
    for side, s in (("left", "L"), ("right", "R")):
        wrist = K[:, N.index(f"{side}_wrist")]
        np.testing.assert_allclose(wrist, J[:, sk.INDEX[f"Hand_{s}"]])
        for part in ("index", "pinky", "thumb"):
            d = np.linalg.norm(K[:, N.index(f"{side}_{part}")] - wrist, axis=-1)
            assert np.all((d > 0.03) & (d < 0.12)), part
        # the hand points lie beyond the wrist, along the forearm
        along = wrist - J[:, sk.INDEX[f"LowerArm_{s}"]]
        assert np.mean(np.sum((K[:, N.index(f"{side}_index")] - wrist) * along, -1) > 0) > 0.9
        hip = K[:, N.index(f"{side}_hip")]
        assert np.all(np.linalg.norm(hip - J[:, sk.INDEX[f"UpperLeg_{s}"]], axis=-1) < 0.05)
    ears = np.linalg.norm(K[:, N.index("left_ear")] - K[:, N.index("right_ear")], axis=-1)
    np.testing.assert_allclose(ears, 0.11, atol=1e-4)
    # ankle to foot tip pitched as on the canonical flat foot (-30.6 degrees) on the frames the foot stands still
    v = K[:, N.index("left_foot_index")] - K[:, N.index("left_ankle")]
    pitch = np.degrees(np.arctan2(v[:, 1], np.hypot(v[:, 0], v[:, 2])))
    low = K[:, N.index("left_foot_index"), 1] < 0.04
    assert low.sum() > 10 and abs(np.median(pitch[low]) + 30.6) < 8


def test_character_creator_feet_are_flatter(mapped) -> None:
    """The README's warning, measured: Character Creator's ball of the foot sits nearly level with its ankle on a
    foot that stands still; the mapping takes that foot as flat."""
    b, *_ = mapped["cc-walk"]
    rot, pos = b.world_transforms()
    i = {n: k for k, n in enumerate(b.names)}
    pitch = mr.flat_foot_pitch(pos[:, i["CC_Base_L_Foot"]] * 0.01, pos[:, i["CC_Base_L_ToeBase"]] * 0.01, b.fps)
    assert -20 < np.degrees(pitch) < 0


def test_fit_constant_turn_recovers_a_rotation() -> None:
    rng = np.random.default_rng(0)
    q = rng.normal(size=(50, 3, 3))
    world = np.linalg.qr(q)[0] * np.sign(np.linalg.det(np.linalg.qr(q)[0]))[:, None, None]
    c = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    c *= np.sign(np.linalg.det(c))
    np.testing.assert_allclose(mr.fit_constant_turn(world, world @ c), c, atol=1e-9)


def test_names_split_and_weights() -> None:
    assert D.parse_clip_name("60_01_scaled.bvh") == (0, "salsa", "60")
    assert D.parse_clip_name("005_03.bvh") == (0, "modern-dance", "005")
    assert D.parse_clip_name("dataset-1_dance-short_normal_001.bvh") == (1, "dance-short", "normal")
    pts = np.zeros((10, 60, 3), np.float32)
    clips = [D.Clip("60_14_scaled.bvh", 0, "salsa", "60", pts, 60.0), D.Clip("60_01_scaled.bvh", 0, "salsa", "60",
                                                                            pts, 60.0),
             D.Clip("007_01.bvh", 0, "walk", "007", pts, 60.0), D.Clip("005_12.bvh", 0, "modern-dance", "005", pts, 60)]
    train, held = D.split(clips)
    assert [c.name for c in held] == ["60_14_scaled.bvh", "005_12.bvh"]
    synth = D.Synth(train, np.random.default_rng(0))
    np.testing.assert_allclose(synth.p_clip, [D.DANCE_WEIGHT / (D.DANCE_WEIGHT + 1), 1 / (D.DANCE_WEIGHT + 1)])
    assert D.FPS_BY_FOLDER["cmu-salsa"] == 60.0
