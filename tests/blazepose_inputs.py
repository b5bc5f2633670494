"""Real video frames prepared as the two BlazePose graphs take them, for the parity tests (CPU and CUDA)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
VIDEO = DATA / "video"


def read_frames(path: Path, indices: list[int]) -> list[np.ndarray]:
    """RGB frames (H, W, 3) uint8 at the given indices, decoded in order."""
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"cannot open {path}"
    out, i = [], 0
    try:
        while len(out) < len(indices):
            ok, frame = cap.read()
            assert ok, f"{path} ended before frame {max(indices)}"
            if i in indices:
                out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            i += 1
    finally:
        cap.release()
    return out


def letterbox(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    s = size / max(h, w)
    nh, nw = round(h * s), round(w * s)
    out = np.zeros((size, size, 3), np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0:y0 + nh, x0:x0 + nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


def square_crop(img: np.ndarray, cx: int, cy: int, side: int, size: int) -> np.ndarray:
    """A side x side square centred on (cx, cy), zero outside the image, resized to size x size."""
    h, w = img.shape[:2]
    x0, y0 = cx - side // 2, cy - side // 2
    canvas = np.zeros((side, side, 3), np.uint8)
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
    canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    return cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)


def parity_inputs() -> dict[str, np.ndarray]:
    """Detector input (6, 224, 224, 3) in [-1, 1] and landmark input (6, 256, 256, 3) in [0, 1]."""
    single = read_frames(VIDEO / "pose2sim-single" / "cam01.mp4", [0, 30, 60])
    sports = read_frames(VIDEO / "sports2d" / "demo.mp4", [0, 40, 80])
    det = np.stack([letterbox(f, 224) for f in single + sports]).astype(np.float32) / 127.5 - 1.0
    # Person regions found by eye: the man on the treadmill (1080x1920), the man on the roof (1768x994).
    crops = [square_crop(f, 400, 740, 1000, 256) for f in single]
    crops += [square_crop(f, 650, 260, 520, 256) for f in sports]
    lm = np.stack(crops).astype(np.float32) / 255.0
    return {"pose_detection": det, "pose_landmark_full": lm}
