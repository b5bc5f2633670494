"""Edits a user makes to the 2D of a capture before it is lifted again (Blender's review mode), as data.

The edited 2D is always the capture's own 2D takes with the list of edits replayed on them
(`apply_edits`): undoing an edit is dropping it from the list, and nothing of the original is ever lost.
People are the takes of one capture keyed by their number (`person`; STEM_pN.npz, take format 1.2).
Frames are the takes' own frame indices (0 = the take's first frame), spans are inclusive.

Edits (`Edit.kind`):
- "swap_people" a, b, from `start` to the end: a and b exchange everything seen in those frames (the tracker
  gave each the other's body);
- "swap_sides" a, start..end: the body's left and right keypoints are exchanged in those frames, and so are
  the two hands (`swapped` records it: its flags are toggled for the whole body, as `detector.swaps` does);
- "invalid" a, start..end: the person is marked not seen there (body and hands), the keypoints stay;
- "merge" b into a: where a was not seen and b was, a takes b's frames; b is gone afterwards (one person
  tracked as two);
- "split" a at `start` into the new person b: a's frames from `start` on become b's (two people tracked as
  one); b must be a number nobody has.
An edit that names a person who is not there (or no longer: merged away), an empty span or frames outside
the take is refused with a one-line BadInput, and nothing is changed.

numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .detector.swaps import ALL, exchange_sides
from .errors import BadInput

KINDS = ("swap_people", "swap_sides", "invalid", "merge", "split")
# per-frame fields of a 2D take (first axis: frames) that follow the person's identity
PER_FRAME = ("joints2d", "valid", "keypoint_presence", "swapped", "hands2d", "hands_valid", "hands3d")
# fields of the 3D solve: an edited take no longer matches them, so they are dropped (lifted again later)
THREE_D = ("joint_names", "parents", "rest_offsets", "joints3d", "rotations", "contacts")


@dataclass(frozen=True)
class Edit:
    """One edit: kind (KINDS), persons a and b (b: -1 where unused), frames start..end (inclusive)."""

    kind: str
    a: int
    b: int = -1
    start: int = 0
    end: int = 0

    def describe(self, offset: int = 0) -> str:
        """In words; frame numbers shifted by `offset` (Blender shows scene frames: the take's first frame + 1)."""
        start, end = self.start + offset, self.end + offset
        span = f"frames {start}-{end}"
        return {"swap_people": f"swap people {self.a} and {self.b} from frame {start} on",
                "swap_sides": f"swap left and right of person {self.a}, {span}",
                "invalid": f"person {self.a} not seen, {span}",
                "merge": f"merge person {self.b} into person {self.a}",
                "split": f"split person {self.a} at frame {start}: from there on person {self.b}",
                }.get(self.kind, self.kind)


def frame_count(people: dict[int, dict]) -> int:
    return int(len(next(iter(people.values()))["valid"]))


def check_edit(people: dict[int, dict], edit: Edit, offset: int = 0) -> None:
    """BadInput (one line) if `edit` cannot be made on `people` as they are now; frames in the message
    shifted by `offset` (as `Edit.describe`)."""
    what = edit.describe(offset)
    if edit.kind not in KINDS:
        raise BadInput(f"unknown edit {edit.kind!r} (one of {', '.join(KINDS)})")
    known = ", ".join(str(n) for n in sorted(people))

    def need(n: int) -> None:
        if n not in people:
            raise BadInput(f"{what}: there is no person {n} (people: {known})")

    need(edit.a)
    if edit.kind in ("swap_people", "merge"):
        need(edit.b)
        if edit.a == edit.b:
            raise BadInput(f"{what}: name two different people")
    if edit.kind == "split":
        if edit.b in people or edit.b < 0:
            raise BadInput(f"{what}: the new person's number must be one nobody has (people: {known})")
    t = frame_count(people)
    if edit.kind in ("swap_sides", "invalid"):
        if edit.start > edit.end:
            raise BadInput(f"{what}: the span is empty (its end is before its start)")
        if edit.start < 0 or edit.end >= t:
            raise BadInput(f"{what}: outside the take (frames {offset}-{t - 1 + offset})")
    if edit.kind in ("swap_people", "split") and not 0 <= edit.start < t:
        raise BadInput(f"{what}: outside the take (frames {offset}-{t - 1 + offset})")
    if edit.kind == "split":
        if edit.start == 0:
            raise BadInput(f"{what}: nothing would be left to person {edit.a}; split at a later frame")
        if not np.asarray(people[edit.a]["valid"][edit.start:], bool).any():
            raise BadInput(f"{what}: person {edit.a} is not seen from there on, nothing to split off")


def two_d(take: dict) -> dict:
    """A copy of a take's 2D (the 3D solve dropped); arrays copied, so edits never reach the original."""
    return {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
            for k, v in take.items() if k not in THREE_D and k != "format_version"}


def apply_edit(people: dict[int, dict], edit: Edit, offset: int = 0) -> dict[int, dict]:
    """`people` with one edit made (checked first: BadInput and nothing changed if it cannot be made; `offset`
    as in `check_edit`). The input is not modified; the result shares no arrays with it."""
    check_edit(people, edit, offset)
    out = {n: two_d(t) for n, t in people.items()}
    a = out[edit.a]
    fields = [k for k in PER_FRAME if k in a]
    if edit.kind == "swap_people":
        b, s = out[edit.b], slice(edit.start, None)
        for k in fields:
            if k in b:
                a[k][s], b[k][s] = b[k][s].copy(), a[k][s].copy()
    elif edit.kind == "swap_sides":
        s = slice(edit.start, edit.end + 1)
        flags = np.full(s.stop - s.start, ALL, np.uint8)
        for k in ("joints2d", "keypoint_presence"):
            if k in a:
                a[k][s] = exchange_sides(a[k][s], flags)
        for k in ("hands2d", "hands_valid", "hands3d"):  # index 0 is the left hand, 1 the right
            if k in a:
                a[k][s] = a[k][s][:, ::-1].copy()
        if "swapped" in a:
            a["swapped"][s] ^= np.uint8(ALL)
    elif edit.kind == "invalid":
        s = slice(edit.start, edit.end + 1)
        a["valid"][s] = False
        if "hands_valid" in a:
            a["hands_valid"][s] = False
    elif edit.kind == "merge":
        b = out.pop(edit.b)
        take_b = np.asarray(b["valid"], bool) & ~np.asarray(a["valid"], bool)
        for k in fields:
            if k in b:
                a[k][take_b] = b[k][take_b]
    elif edit.kind == "split":
        new = two_d(a)
        before, after = slice(0, edit.start), slice(edit.start, None)
        for take, gone in ((new, before), (a, after)):
            take["valid"][gone] = False
            if "hands_valid" in take:
                take["hands_valid"][gone] = False
        new["person"] = np.int32(edit.b)
        out[edit.b] = new
    if len(out) > 1 or any("people" in t for t in out.values()):
        numbers = np.array(sorted(out), np.int32)
        for t in out.values():
            t["people"] = numbers.copy()
    return out


def apply_edits(people: dict[int, dict], edits: list[Edit]) -> dict[int, dict]:
    """The 2D after every edit in order (BadInput naming the edit's place in the list if one fails)."""
    out = {n: two_d(t) for n, t in people.items()}
    for i, edit in enumerate(edits):
        try:
            out = apply_edit(out, edit)
        except BadInput as exc:
            raise BadInput(f"edit {i + 1}: {exc}") from None
    return out
