"""The review's 2D edits (`engine.edits2d`) on a real capture of the two people of sports2d: each edit changes
exactly what it says and nothing else, replaying without it gives the 2D back bit for bit, and a bad edit is one
line of BadInput with nothing changed. The expectations are written out here, not taken from the module."""

from __future__ import annotations

import numpy as np
import pytest

from engine.edits2d import PER_FRAME, THREE_D, Edit, apply_edit, apply_edits
from engine.errors import BadInput
from engine.lifter.keypoints import KEYPOINT_NAMES
from engine.take import read_take

SIDE_OF = [KEYPOINT_NAMES.index(n.replace("left", "#").replace("right", "left").replace("#", "right"))
           for n in KEYPOINT_NAMES]


@pytest.fixture(scope="module")
def people(sports2d_people) -> dict[int, dict]:
    return {int(read_take(p)["person"]): read_take(p) for p in sports2d_people}


def _same(a: dict, b: dict, skip: tuple = ()) -> None:
    """Every field of two takes equal (bit for bit), but those in `skip`."""
    assert sorted(k for k in a if k not in skip) == sorted(k for k in b if k not in skip)
    for k in a:
        if k not in skip:
            assert np.array_equal(np.asarray(a[k]), np.asarray(b[k])), k


def _two_d(take: dict) -> dict:
    return {k: v for k, v in take.items() if k not in THREE_D and k != "format_version"}


def test_the_capture_has_what_the_edits_touch(people) -> None:
    assert sorted(people) == [0, 1]
    for t in people.values():
        assert all(k in t for k in PER_FRAME) and len(t["valid"]) == 45
        assert t["hands_valid"].any(axis=0).all()  # both hands seen somewhere: the hand checks mean something


def test_swap_people_from_a_frame_on(people) -> None:
    out = apply_edits(people, [Edit("swap_people", 0, 1, start=20)])
    for me, other in ((0, 1), (1, 0)):
        for k in PER_FRAME:
            assert np.array_equal(out[me][k][:20], people[me][k][:20]), k
            assert np.array_equal(out[me][k][20:], people[other][k][20:]), k
        _same(out[me], _two_d(people[me]), skip=PER_FRAME)  # number, people, fps ... stay
    assert apply_edits(people, [Edit("swap_people", 0, 1, start=20)] * 2)[0]["joints2d"].tobytes() == \
        people[0]["joints2d"].tobytes()


def test_swap_left_and_right_over_a_span(people) -> None:
    out = apply_edits(people, [Edit("swap_sides", 1, start=5, end=14)])
    a, b = out[1], people[1]
    span = slice(5, 15)
    assert np.array_equal(a["joints2d"][span], b["joints2d"][span][:, SIDE_OF])
    assert np.array_equal(a["keypoint_presence"][span], b["keypoint_presence"][span][:, SIDE_OF])
    for k in ("hands2d", "hands_valid", "hands3d"):  # the person's left hand is now the right one
        assert np.array_equal(a[k][span, 0], b[k][span, 1]) and np.array_equal(a[k][span, 1], b[k][span, 0]), k
    assert np.array_equal(a["swapped"][span], b["swapped"][span] ^ 7)
    for k in PER_FRAME:
        assert np.array_equal(a[k][:5], b[k][:5]) and np.array_equal(a[k][15:], b[k][15:]), k
    assert np.array_equal(a["valid"], b["valid"])
    _same(out[0], _two_d(people[0]))
    assert not np.array_equal(a["joints2d"][span], b["joints2d"][span])  # the edit did something


def test_mark_a_span_not_seen(people) -> None:
    out = apply_edits(people, [Edit("invalid", 0, start=10, end=19)])
    a, b = out[0], people[0]
    assert not a["valid"][10:20].any() and np.array_equal(a["valid"][:10], b["valid"][:10])
    assert np.array_equal(a["valid"][20:], b["valid"][20:])
    assert not a["hands_valid"][10:20].any() and np.array_equal(a["hands_valid"][20:], b["hands_valid"][20:])
    _same(a, _two_d(b), skip=("valid", "hands_valid"))
    _same(out[1], _two_d(people[1]))


def test_merge_fills_the_gaps_and_the_other_is_gone(people) -> None:
    edits = [Edit("invalid", 0, start=30, end=44), Edit("merge", 0, 1)]
    out = apply_edits(people, edits)
    assert sorted(out) == [0] and out[0]["people"].tolist() == [0]
    a = out[0]
    for k in PER_FRAME:
        assert np.array_equal(a[k][30:], people[1][k][30:]), k  # person 1 was seen there
    marked = apply_edits(people, edits[:1])[0]
    for k in PER_FRAME:
        assert np.array_equal(a[k][:30], marked[k][:30]), k
    assert int(a["person"]) == 0


def test_split_gives_a_new_person(people) -> None:
    out = apply_edits(people, [Edit("split", 0, 2, start=25)])
    assert sorted(out) == [0, 1, 2] and all(t["people"].tolist() == [0, 1, 2] for t in out.values())
    new, old, orig = out[2], out[0], people[0]
    assert int(new["person"]) == 2 and int(old["person"]) == 0
    assert np.array_equal(new["valid"][25:], orig["valid"][25:]) and not new["valid"][:25].any()
    assert np.array_equal(old["valid"][:25], orig["valid"][:25]) and not old["valid"][25:].any()
    assert not new["hands_valid"][:25].any() and not old["hands_valid"][25:].any()
    for k in ("joints2d", "hands2d", "swapped"):
        assert np.array_equal(new[k], orig[k]) and np.array_equal(old[k], orig[k]), k
    _same(out[1], _two_d(people[1]), skip=("people",))


def test_undo_is_replaying_without_the_edit(people) -> None:
    edits = [Edit("swap_sides", 1, start=3, end=9), Edit("swap_people", 0, 1, start=12),
             Edit("invalid", 1, start=0, end=2), Edit("split", 1, 3, start=40)]
    before = apply_edits(people, edits[:3])
    after = apply_edits(people, edits)
    assert sorted(after) == [0, 1, 3]
    again = apply_edits(people, edits[:3])  # the last one undone
    assert sorted(again) == sorted(before)
    for n in before:
        _same(again[n], before[n])
    for n in people:  # the originals were never touched
        assert people[n]["format_version"] == "1.2" and "joints3d" in people[n]


@pytest.mark.parametrize("edit, message", [
    (Edit("swap_people", 0, 5, start=3), r"^swap people 0 and 5 from frame 3 on: there is no person 5 "
                                         r"\(people: 0, 1\)$"),
    (Edit("merge", 1, 1), "name two different people"),
    (Edit("invalid", 0, start=9, end=4), "the span is empty"),
    (Edit("swap_sides", 0, start=40, end=60), r"outside the take \(frames 0-44\)"),
    (Edit("split", 0, 1, start=10), "must be one nobody has"),
    (Edit("split", 0, 2, start=0), "nothing would be left"),
    (Edit("invalid", 7, start=0, end=1), "there is no person 7"),
])
def test_bad_edits_are_one_line_and_change_nothing(people, edit, message) -> None:
    copies = {n: {k: np.copy(v) for k, v in t.items()} for n, t in people.items()}
    with pytest.raises(BadInput, match=message) as info:
        apply_edit(people, edit)
    assert "\n" not in str(info.value)
    for n in people:
        _same(people[n], copies[n])
    # in a list, the message says which edit
    with pytest.raises(BadInput, match=r"^edit 2: "):
        apply_edits(people, [Edit("invalid", 0, start=0, end=0), edit])


def test_a_person_merged_away_cannot_be_edited(people) -> None:
    with pytest.raises(BadInput, match="there is no person 1 \\(people: 0\\)"):
        apply_edits(people, [Edit("merge", 0, 1), Edit("swap_sides", 1, start=0, end=3)])
