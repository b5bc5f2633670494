"""Draw the 2D skeleton on video frames, so a user can judge the 2D before trusting the 3D."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# BlazePose keypoint pairs drawn as bones, by side: left in orange, right in blue, centre in white (BGR).
LEFT, RIGHT, CENTRE = (0, 140, 255), (255, 140, 0), (235, 235, 235)
BONES = [
    ((11, 12), CENTRE), ((23, 24), CENTRE), ((11, 23), LEFT), ((12, 24), RIGHT),
    ((11, 13), LEFT), ((13, 15), LEFT), ((15, 17), LEFT), ((15, 19), LEFT), ((15, 21), LEFT), ((17, 19), LEFT),
    ((12, 14), RIGHT), ((14, 16), RIGHT), ((16, 18), RIGHT), ((16, 20), RIGHT), ((16, 22), RIGHT),
    ((18, 20), RIGHT),
    ((23, 25), LEFT), ((25, 27), LEFT), ((27, 29), LEFT), ((29, 31), LEFT), ((27, 31), LEFT),
    ((24, 26), RIGHT), ((26, 28), RIGHT), ((28, 30), RIGHT), ((30, 32), RIGHT), ((28, 32), RIGHT),
    ((0, 2), LEFT), ((0, 5), RIGHT), ((2, 7), LEFT), ((5, 8), RIGHT), ((9, 10), CENTRE),
]
MIN_VISIBILITY = 0.3
# one colour per person number (BGR), for the joints and the number tag; bones keep the left/right colours
PERSON_COLOURS = [(40, 220, 40), (220, 60, 220), (40, 220, 230), (60, 60, 235), (230, 200, 60), (150, 90, 255),
                  (0, 160, 255), (200, 200, 120)]


def person_colour(number: int) -> tuple[int, int, int]:
    return PERSON_COLOURS[number % len(PERSON_COLOURS)]


def draw_skeleton(frame: np.ndarray, points: np.ndarray | None, label: str = "", number: int | None = None
                  ) -> np.ndarray:
    """Draw on a BGR frame in place. points: (>=33, >=4) x, y, z, visibility in pixels; None = not found.
    number: the person's number, written above the head in the person's colour (`person_colour`)."""
    import cv2

    scale = max(frame.shape[:2]) / 1000.0
    thick = max(1, int(round(3 * scale)))
    joint_colour = (40, 220, 40) if number is None else person_colour(number)
    if points is None:
        if number is None:
            cv2.putText(frame, "no person", (int(20 * scale), int(50 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                        1.2 * scale, (0, 0, 255), thick, cv2.LINE_AA)
    else:
        xy = np.round(points[:33, :2]).astype(int)
        vis = points[:33, 3]
        for (a, b), colour in BONES:
            if vis[a] >= MIN_VISIBILITY and vis[b] >= MIN_VISIBILITY:
                cv2.line(frame, tuple(xy[a]), tuple(xy[b]), colour, thick, cv2.LINE_AA)
        for k in range(33):
            if vis[k] >= MIN_VISIBILITY:
                cv2.circle(frame, tuple(xy[k]), thick + 1, joint_colour, -1, cv2.LINE_AA)
        if number is not None:
            top = xy[np.argmin(xy[:, 1])]
            cv2.putText(frame, str(number), (int(top[0] - 12 * scale), int(top[1] - 25 * scale)),
                        cv2.FONT_HERSHEY_SIMPLEX, 1.4 * scale, joint_colour, thick + 1, cv2.LINE_AA)
    if label:
        _label(frame, label)
    return frame


def swap_label(flags: int) -> str:
    """Words for a frame's left/right corrections (`detector.swaps` bit flags), '' for none."""
    from .detector.swaps import ALL, ARMS, LEGS, TORSO

    if flags & ALL == ALL:
        return "left/right corrected: whole body"
    parts = [w for bit, w in ((TORSO, "head and trunk"), (ARMS, "arms"), (LEGS, "legs")) if flags & bit]
    return "left/right corrected: " + ", ".join(parts) if parts else ""


def draw_take_frames(writer, info, first: int, joints2d: list[np.ndarray], valid: list[np.ndarray],
                     swapped: list[np.ndarray] | None = None, numbers: list[int] | None = None,
                     hands: list[tuple[np.ndarray, np.ndarray]] | None = None,
                     progress: Callable[[str, int, int], None] | None = None,
                     warn: Callable[[str], None] | None = None) -> None:
    """Write the video frames first..first+T-1 to `writer` with every person's 2D drawn on them: the
    assignment the 3D was lifted from, left/right corrections included, each person's number in their colour.

    writer: `video.OverlayWriter`; info: `video.VideoInfo`; per person: joints2d (T, 33, 3) pixels and
    confidence, valid (T,) bool, swapped (T,) uint8 flags (`detector.swaps`, named under the frame number
    where set); numbers: the people's numbers (default 0, 1, ...); hands: per person the take's hands2d
    (T, 2, 21, 3) and hands_valid (T, 2), drawn where seen.
    """
    from .video import iter_frames

    T = joints2d[0].shape[0]
    numbers = list(range(len(joints2d))) if numbers is None else numbers
    for i, frame in iter_frames(info, first, first + T, on_warning=warn):
        k = i - first
        if frame is None:
            continue
        label = f"frame {i}"
        for p, number in enumerate(numbers):
            if valid[p][k]:  # draw_skeleton's layout: x, y, z, visibility
                points = np.zeros((33, 4), np.float32)
                points[:, :2], points[:, 3] = joints2d[p][k, :, :2], joints2d[p][k, :, 2]
                draw_skeleton(frame, points, number=number)
            if hands is not None:
                for h in range(2):
                    if hands[p][1][k, h]:
                        draw_hand(frame, hands[p][0][k, h, :, :2], LEFT if h == 0 else RIGHT)
            if swapped is not None and swapped[p][k]:
                label += f"  {number}: " + swap_label(int(swapped[p][k]))
        if not any(v[k] for v in valid):
            draw_skeleton(frame, None)
        writer.write(_label(frame, label))
        if progress:
            progress("overlay", k + 1, T)


# the hand's bones: each finger from the wrist (MediaPipe's 21-point order), and the knuckles across the palm
HAND_BONES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (9, 10), (10, 11), (11, 12),
              (13, 14), (14, 15), (15, 16), (0, 17), (17, 18), (18, 19), (19, 20), (5, 9), (9, 13), (13, 17)]


def draw_hand(frame: np.ndarray, points: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """Draw one hand's 21 points (pixels) on a BGR frame in place, thinner than the body."""
    import cv2

    scale = max(frame.shape[:2]) / 1000.0
    thick = max(1, int(round(1.5 * scale)))
    xy = np.round(points).astype(int)
    for a, b in HAND_BONES:
        cv2.line(frame, tuple(xy[a]), tuple(xy[b]), colour, thick, cv2.LINE_AA)
    for q in xy:
        cv2.circle(frame, tuple(q), thick, (255, 255, 255), -1, cv2.LINE_AA)
    return frame


def _label(frame: np.ndarray, label: str) -> np.ndarray:
    """The frame's caption at the bottom left."""
    import cv2

    scale = max(frame.shape[:2]) / 1000.0
    thick = max(1, int(round(3 * scale)))
    cv2.putText(frame, label, (int(20 * scale), frame.shape[0] - int(20 * scale)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.8 * scale, (255, 255, 255), max(1, thick // 2), cv2.LINE_AA)
    return frame
