"""Video decoding with OpenCV: frames streamed one at a time, rotation metadata applied, damage reported.

Frames are BGR uint8 (H, W, 3) as OpenCV gives them, already turned upright.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Iterator

import numpy as np

from .errors import BadInput

# After this many undecodable frames in a row the rest of the file is taken as lost.
MAX_CONSECUTIVE_FAILURES = 25
# Frame rates outside this range are not believed (a damaged or hand-edited header).
MIN_FPS, MAX_FPS = 1.0, 1000.0
# Frames whose timestamps `probe` reads to check the container's rate (grabbed, not converted: ~4 ms each
# at 1080x1920) and how much their intervals may differ before the video counts as variable-frame-rate.
PROBE_FRAMES = 90
VFR_SPREAD = 0.15


@dataclass(frozen=True)
class VideoInfo:
    path: str
    width: int  # upright, after rotation
    height: int
    fps: float
    frame_count: int  # as the container says; may be an estimate
    rotation: int  # degrees clockwise the stored frames are turned to be upright
    warnings: tuple[str, ...] = ()  # what `probe` found doubtful about the timing, for the user


def quiet_native_logs() -> None:
    """Ask OpenCV and FFmpeg not to print their own lines on stderr (read when cv2 is first imported)."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    os.environ.setdefault("OPENCV_VIDEOIO_DEBUG", "0")


def _cv2():
    quiet_native_logs()
    import cv2

    return cv2


_ROTATE_CODES = {90: "ROTATE_90_CLOCKWISE", 180: "ROTATE_180", 270: "ROTATE_90_COUNTERCLOCKWISE"}


def _open(path: str):
    cv2 = _cv2()
    p = Path(path)
    if not p.exists():
        raise BadInput(f"video not found: {path}")
    if not p.is_file():
        raise BadInput(f"not a file: {path}")
    if p.stat().st_size == 0:
        raise BadInput(f"video file is empty: {path}")
    # One decoding thread: the capture decodes in threads of its own beside the networks, and FFmpeg's
    # frame threads cost CPU time there (measured on a 1080x1920 H.264 clip: 5.6 ms of CPU per frame with
    # two threads, 4.7 ms with one).
    cap = cv2.VideoCapture(str(p), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if not cap.isOpened():
        raise BadInput(f"{p.name} is not a video that can be decoded (unknown or damaged format)")
    # Rotation is applied here, explicitly, so every OpenCV build behaves the same.
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
    return cap


def probe(path: str | os.PathLike, fps: float | None = None) -> VideoInfo:
    """Open the video and read its properties; BadInput if it is missing, not a video, or has no frames.

    The frame rate the container claims is checked against the timestamps of the first frames
    (`PROBE_FRAMES`): a variable frame rate, a rate the timestamps contradict, or none at all give a warning
    (in `VideoInfo.warnings`) and the rate the timestamps show; an implausible rate with no usable timestamps
    is BadInput. `fps` (the user's `--fps`) overrides all of it.
    """
    cv2 = _cv2()
    cap = _open(str(path))
    name = Path(path).name
    try:
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        claimed = float(cap.get(cv2.CAP_PROP_FPS))
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        rotation = cap.get(cv2.CAP_PROP_ORIENTATION_META)
        ok, frame = cap.read()
        times = [cap.get(cv2.CAP_PROP_POS_MSEC)] if ok else []
        if ok and fps is None:
            while len(times) < PROBE_FRAMES and cap.grab():
                times.append(cap.get(cv2.CAP_PROP_POS_MSEC))
    finally:
        cap.release()
    if not ok or frame is None or w <= 0 or h <= 0:
        raise BadInput(f"{name} has no decodable video frames")
    rotation = int(round(rotation)) % 360 if np.isfinite(rotation) else 0
    if rotation not in (0, 90, 180, 270):
        rotation = 0
    if rotation in (90, 270):
        w, h = h, w
    # a frame takes at least a byte: a count beyond the file's size is a damaged header, not a promise
    size = Path(path).stat().st_size
    count = int(count) if np.isfinite(count) and 0 < count <= size else 1
    warnings: list[str] = []
    if fps is not None:
        if not (np.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
            raise BadInput(f"--fps {fps:g} is outside {MIN_FPS:g}..{MAX_FPS:g}")
        rate = float(fps)
    else:
        rate = _frame_rate(name, claimed, np.asarray(times, np.float64), warnings)
    return VideoInfo(str(path), w, h, rate, max(count, 1), rotation, tuple(warnings))


def _frame_rate(name: str, claimed: float, times_ms: np.ndarray, warnings: list[str]) -> float:
    """The rate to time the video by, from what the container claims and the first frames' timestamps."""
    plausible = bool(np.isfinite(claimed) and MIN_FPS <= claimed <= MAX_FPS)
    dt = np.diff(times_ms[np.isfinite(times_ms)])
    dt = dt[dt > 0]
    measured = None
    if dt.size >= 2:
        median = float(np.median(dt))
        measured = 1000.0 / median
        spread = (float(dt.max()) - float(dt.min())) / median
        if spread > VFR_SPREAD:
            average = 1000.0 * dt.size / float(dt.sum())
            rate = claimed if plausible else average
            if not MIN_FPS <= rate <= MAX_FPS:
                raise BadInput(f"{name}: variable frame rate with no plausible average ({rate:.4g} fps); "
                               f"give the rate with --fps")
            warnings.append(
                f"{name} has a variable frame rate (frames {dt.min():.1f} to {dt.max():.1f} ms apart); the take "
                f"is timed at its average {rate:.3g} fps, so motion within the clip may run fast or slow "
                f"(re-encode at a constant rate, or give --fps, for exact timing)")
            return float(rate)
    if measured is not None and MIN_FPS <= measured <= MAX_FPS:
        if not plausible:
            warnings.append(f"{name} claims {claimed:.4g} fps, which is implausible; its frame timestamps say "
                            f"{measured:.3g} fps, used instead (--fps overrides)")
            return measured
        if abs(measured - claimed) > 0.05 * claimed:
            warnings.append(f"{name} claims {claimed:.4g} fps but its frames are {1000 / measured:.1f} ms apart; "
                            f"timed at {measured:.3g} fps (--fps overrides)")
            return measured
        return claimed
    if plausible:
        return claimed
    if claimed > 0 or measured is not None:
        shown = f"{claimed:.4g}" if claimed > 0 else f"{measured:.4g}"
        raise BadInput(f"{name} has an implausible frame rate ({shown} fps; expected {MIN_FPS:g} to "
                       f"{MAX_FPS:g}); give the real rate with --fps")
    warnings.append(f"{name} states no frame rate; assuming 30 fps (give the real one with --fps)")
    return 30.0


def iter_frames(
    info: VideoInfo,
    start: int = 0,
    end: int | None = None,
    grab_only: Callable[[int], bool] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> Iterator[tuple[int, np.ndarray | None]]:
    """Yield (frame_index, frame) for frames start..end-1; frame is None for an undecodable frame.

    `grab_only(i)` returning True skips colour conversion of frame i (it is yielded as None without a
    warning), for passes that look at only some frames. Memory stays flat: one frame at a time.
    Undecodable frames in a row are one warning ("frames 3-10 could not be decoded"), given once the run
    ends; a run longer than MAX_CONSECUTIVE_FAILURES ends the video, with its own warning.
    """
    cv2 = _cv2()
    cap = _open(info.path)
    rotate = getattr(cv2, _ROTATE_CODES[info.rotation]) if info.rotation else None
    bad_from: int | None = None  # first frame of the current run of undecodable frames

    def flush(last: int) -> None:
        nonlocal bad_from
        if bad_from is not None and on_warning and last >= bad_from:
            which = f"frame {bad_from}" if last == bad_from else f"frames {bad_from}-{last}"
            on_warning(f"{which} could not be decoded; marked invalid")
        bad_from = None

    try:
        index = 0
        if start > 0:
            # Seek by grabbing: container seeks land on keyframes and are not frame-exact everywhere.
            while index < start and cap.grab():
                index += 1
        failures = 0
        while end is None or index < end:
            if grab_only is not None and grab_only(index):
                if not cap.grab():
                    if index >= info.frame_count - 1:
                        break
                    failures += 1
                    if failures > MAX_CONSECUTIVE_FAILURES:
                        break
                else:
                    failures = 0
                yield index, None
                index += 1
                continue
            ok, frame = cap.read()
            if not ok or frame is None:
                if index >= info.frame_count - 1:
                    if bad_from is not None:  # the last frame is lost with the run before it
                        flush(index)
                    break  # the normal end of the stream
                failures += 1
                if failures > MAX_CONSECUTIVE_FAILURES:
                    bad_from = None
                    if on_warning:
                        on_warning(f"video stops decoding at frame {index - failures + 1}; the rest is lost")
                    break
                if bad_from is None:
                    bad_from = index
                yield index, None
                index += 1
                continue
            flush(index - 1)
            failures = 0
            if rotate is not None:
                frame = cv2.rotate(frame, rotate)
            yield index, frame
            index += 1
        flush(index - 1)
    except GeneratorExit:  # the consumer stopped early: the run of bad frames it was given is still told
        flush(index - 1)
        raise
    finally:
        cap.release()


class OverlayWriter:
    """Writes an MP4 to a hidden temporary file beside its final path and gives it that name on close (with
    `fileio.commit`, so inside `fileio.staged_outputs` together with the run's other outputs)."""

    def __init__(self, path: str | os.PathLike, fps: float, size: tuple[int, int]) -> None:
        from .fileio import discard, temporary_beside

        cv2 = _cv2()
        self.path = Path(path)
        self.tmp = temporary_beside(self.path, suffix=".tmp" + (self.path.suffix or ".mp4"))
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            self.writer.release()
            discard(self.tmp)
            raise BadInput(f"cannot write video {self.path} (OpenCV has no MP4 encoder for this name)")

    def write(self, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def close(self, keep: bool = True) -> None:
        from .fileio import commit, discard

        self.writer.release()
        if keep:
            commit(self.tmp, self.path)
        else:
            discard(self.tmp)
