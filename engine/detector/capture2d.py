"""Capture 33 BlazePose keypoints per frame from a video, following one person.

Two passes over the decoded stream, each with flat memory:
1. scan: the detector on a few frames per second, linked into person tracks (see tracking.py);
2. landmarks: every frame, the landmark graph on a rotated crop around the chosen person. The crop comes
   from the previous frame's landmarks (as MediaPipe tracks); the chosen track's detections re-anchor it
   when the landmarks drift onto someone else, and the detector runs again when the person is lost.
   Frames are cropped in small batches with a speculative ROI and kept only where it matches the exact one.
Decoding runs in a thread beside the networks (OpenCV and the runtimes release the GIL).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import BadInput
from ..video import VideoInfo, iter_frames
from . import blazepose as bp
from .backends import PoseNets
from .tracking import Track, build_tracks, rank_tracks

SCANS_PER_SECOND = 8.0
LANDMARK_BATCH = 4  # frames cropped with one speculative ROI and run as one batch
ROI_TOLERANCE = 0.06  # a speculative ROI within 6% of the size (centre and size) and ...
ROI_TURN_TOLERANCE = 0.1  # ... 0.1 rad of the exact one gives the same landmarks, near enough
DETECT_BATCH = 8
TILE_EVERY = 3  # scanned frames between two looks through the tiles
MAX_SPEED = 3.0  # body radii per second the hips may move between two good frames ...
MAX_JUMP_WINDOW_S = 1.0  # ... checked when the last good frame is at most this old
SAME_PERSON_DIST = 0.5  # landmark hips this far from the track's detection (in body radii): someone else


@dataclass
class Capture2D:
    joints2d: np.ndarray  # (T, 33, 3) float32: x, y pixels, visibility in [0, 1]
    valid: np.ndarray  # (T,) bool: the followed person was found in this frame
    presence: np.ndarray  # (T, 33) float32: landmark presence in [0, 1]
    first_frame: int
    tracks: list[Track]
    person: int


@dataclass
class _Failure:
    """An exception raised in the decoding thread, handed to the consumer to raise."""

    exc: BaseException


def _threaded(it: Iterator, depth: int = 6) -> Iterator:
    """Run an iterator in a thread with a bounded queue: decoding overlaps inference, memory stays flat."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    sentinel = object()

    def worker():
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer
            q.put(_Failure(exc))
            return
        q.put(sentinel)

    th = threading.Thread(target=worker, daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is sentinel:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        th.join(timeout=5)


def scan_people(nets: PoseNets, info: VideoInfo, start: int, end: int,
                progress: Callable[[str, int, int], None] | None = None) -> list[Track]:
    """Pass 1: detector on every k-th frame, tracks ranked by prominence.

    The whole frame is looked at on every scanned frame, the tiles that find small people (see
    `blazepose.detector_windows`) on every TILE_EVERY-th; once the tiles find someone the whole frame
    missed, people are small in this video and the tiles are used on every scanned frame from then on.
    """
    step = max(1, round(info.fps / SCANS_PER_SECOND))
    all_views = bp.detector_windows(info.width, info.height)
    tiles_needed = threading.Event()

    def frames():
        # Undecodable frames are reported once, by the landmark pass.
        for i, frame in iter_frames(info, start, end, grab_only=lambda i: (i - start) % step != 0):
            if frame is not None:
                tiles = tiles_needed.is_set() or ((i - start) // step) % TILE_EVERY == 0
                views = all_views if tiles else all_views[:1]
                yield i, views, np.stack([bp.detector_input(frame, lb) for lb in views])

    sightings: list[tuple[int, list[bp.Detection]]] = []
    batch: list[tuple[int, list[bp.Letterbox], np.ndarray]] = []
    total = end - start

    def flush():
        if not batch:
            return
        boxes, scores = nets.detect(np.concatenate([x for _, _, x in batch]))
        k = 0
        for i, views, _ in batch:
            raw = [(boxes[k + v], scores[k + v]) for v in range(len(views))]
            found = bp.decode_detections(raw, views)
            if len(views) > 1 and len(found) > len(bp.decode_detections(raw[:1], views[:1])):
                tiles_needed.set()
            sightings.append((i, found))
            k += len(views)
        batch.clear()

    for i, views, x in _threaded(frames()):
        batch.append((i, views, x))
        if len(batch) == DETECT_BATCH:
            flush()
            if progress:
                progress("scan", i - start + 1, total)
    flush()
    if progress:
        progress("scan", total, total)
    return rank_tracks(build_tracks(sightings, info.fps), info.width, info.height)


def capture_2d(nets: PoseNets, info: VideoInfo, start: int = 0, end: int | None = None, person: int | None = None,
               progress: Callable[[str, int, int], None] | None = None,
               warn: Callable[[str], None] | None = None,
               on_frame: Callable[[int, np.ndarray | None, np.ndarray | None], None] | None = None) -> Capture2D:
    """Run both passes over frames [start, end). `person` None follows the most prominent track.

    on_frame(i, frame_bgr, points (39,5) or None) is called for every frame of pass 2 (for the overlay).
    """
    import cv2

    # Image operations here are small (crops of 256 px); OpenCV's worker threads only contend with the
    # decoder and the networks (measured: a 256 px warp 0.33 ms on one thread, 0.83 ms on two).
    cv2.setNumThreads(1)
    end = info.frame_count if end is None else min(end, info.frame_count)
    if end <= start:
        raise BadInput(f"empty frame range {start}..{end} (the video has {info.frame_count} frames)")
    tracks = scan_people(nets, info, start, end, progress)
    if not tracks:
        raise BadInput("no person found in the video")
    index = 0 if person is None else person
    if not 0 <= index < len(tracks):
        raise BadInput(f"--person {index}: only {len(tracks)} person track(s) found (0..{len(tracks) - 1})")
    track = tracks[index]
    max_gap = int(round(2 * info.fps))
    views = bp.detector_windows(info.width, info.height)

    total = end - start
    joints2d = np.zeros((total, bp.NUM_KEYPOINTS, 3), np.float32)
    presence = np.zeros((total, bp.NUM_KEYPOINTS), np.float32)
    valid = np.zeros(total, bool)
    roi: bp.Roi | None = None
    last: tuple[int, np.ndarray, float] | None = None  # frame, hip centre, body radius of the last good pose
    for chunk in _chunks(_threaded(iter_frames(info, start, end, on_warning=warn)), LANDMARK_BATCH):
        # Speculation: every frame of the chunk is cropped with the ROI the last good frame gives, and the
        # crops run as one batch. Walking the chunk in order, a frame keeps its speculative result only
        # when that ROI is close to the one its predecessor's landmarks give; otherwise it runs again alone.
        # Sequential tracking's results at batched speed while the person moves steadily.
        guesses = {}
        if roi is not None:
            todo = [(i, f) for i, f in chunk if f is not None and track.alive_at(i, max_gap)]
            if len(todo) > 1:
                crops = np.stack([bp.landmark_input(f, roi) for _, f in todo])
                raws, flags = nets.landmarks(crops)
                guesses = {i: (roi, raws[n], flags[n]) for n, (i, _) in enumerate(todo)}
        for i, frame in chunk:
            guess = guesses.get(i)
            points = None
            if frame is None:
                roi = None  # undecodable frame: invalid, and re-anchor on the next good one
            elif track.alive_at(i, max_gap):
                det = track.detection_at(i)
                if roi is None or det is not None:
                    anchor = det if det is not None else _find_on_track(nets, frame, views, track, info.fps, i)
                    if roi is None and anchor is not None:
                        roi = bp.roi_from_detection(anchor)
                if roi is not None:
                    points = _landmarks(nets, frame, roi, guess)
                    if points is not None and det is not None and not _same_person(points, det):
                        points = _landmarks(nets, frame, bp.roi_from_detection(det))  # drifted: re-anchor
                    if points is not None and (_stolen(points, det, tracks, track, i)
                                               or _jumped(points, det, last, i, info.fps)):
                        points = None  # the crop slid onto someone else (a passer-by): drop, re-anchor later
                    elif points is None and det is None:
                        anchor = _find_on_track(nets, frame, views, track, info.fps, i)  # lost: look again
                        if anchor is not None:
                            points = _landmarks(nets, frame, bp.roi_from_detection(anchor))
                roi = bp.roi_from_landmarks(points) if points is not None else None
            else:
                roi = None
            k = i - start
            if points is not None:
                last = (i, points[[23, 24], :2].mean(0), roi.size / bp.ROI_SCALE / 2)
                joints2d[k, :, :2] = points[: bp.NUM_KEYPOINTS, :2]
                joints2d[k, :, 2] = points[: bp.NUM_KEYPOINTS, 3]
                presence[k] = points[: bp.NUM_KEYPOINTS, 4]
                valid[k] = True
            if on_frame is not None:
                on_frame(i, frame, points)
            if progress:
                progress("landmarks", k + 1, total)
    if not valid.any():
        raise BadInput("no person found in the video")
    return Capture2D(joints2d, valid, presence, start, tracks, index)


def _chunks(it, n: int):
    chunk = []
    for item in it:
        chunk.append(item)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _close(a: bp.Roi, b: bp.Roi) -> bool:
    """Whether two ROIs crop nearly the same pixels (then their landmark results are interchangeable)."""
    turn = abs((a.rotation - b.rotation + np.pi) % (2 * np.pi) - np.pi)
    return (np.hypot(a.cx - b.cx, a.cy - b.cy) <= ROI_TOLERANCE * b.size
            and abs(a.size / b.size - 1.0) <= ROI_TOLERANCE and turn <= ROI_TURN_TOLERANCE)


def _landmarks(nets: PoseNets, frame: np.ndarray, roi: bp.Roi,
               guess: tuple[bp.Roi, np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
    """Landmarks in image pixels (39, 5), or None when the graph says nobody is in the crop.

    guess: (roi, raw, flag) already computed for this frame with a speculative ROI; used when close enough.
    """
    if guess is not None and _close(guess[0], roi):
        roi, raw, flag = guess[0], guess[1], float(guess[2])
    else:
        raws, flags = nets.landmarks(bp.landmark_input(frame, roi)[None])
        raw, flag = raws[0], float(flags[0])
    if flag < bp.PRESENCE_THRESHOLD:
        return None
    return bp.project_landmarks(raw, roi)


def _same_person(points: np.ndarray, det: bp.Detection) -> bool:
    """The landmarks' hip centre lies near the detection's hip centre (relative to the body's size)."""
    hips = points[[23, 24], :2].mean(0)
    return float(np.hypot(*(hips - det.keypoints[0]))) <= SAME_PERSON_DIST * det.radius


def _jumped(points: np.ndarray, det: bp.Detection | None, last: tuple[int, np.ndarray, float] | None,
            i: int, fps: float) -> bool:
    """Whether the hips moved further since the last good frame than a body can (without a detection
    of the followed track here to vouch for the new place)."""
    if last is None or det is not None:
        return False
    dt = (i - last[0]) / fps
    if dt > MAX_JUMP_WINDOW_S:
        return False
    return float(np.hypot(*(points[[23, 24], :2].mean(0) - last[1]))) > (0.3 + MAX_SPEED * dt) * last[2]


def _stolen(points: np.ndarray, det: bp.Detection | None, tracks: list[Track], ours: Track, i: int) -> bool:
    """Whether the landmarks sit on another person's detection rather than on the followed track's."""
    if det is not None and _same_person(points, det):
        return False
    for t in tracks:
        other = t.detection_at(i) if t is not ours else None
        if other is not None and _same_person(points, other):
            return True
    return False


def _find_on_track(nets: PoseNets, frame: np.ndarray, views: list[bp.Letterbox], track: Track, fps: float,
                   i: int) -> bp.Detection | None:
    """Run the detector on this frame and return the detection that continues the followed track."""
    boxes, scores = nets.detect(np.stack([bp.detector_input(frame, lb) for lb in views]))
    dets = bp.decode_detections(list(zip(boxes, scores)), views)
    return track.closest(dets, i, fps)
