"""Capture 33 BlazePose keypoints per frame from a video: track everyone, then choose whom to keep.

Two passes over the decoded stream, each with flat memory:
1. scan: the detector on a few frames per second, linked into a track per person, each with its number
   (see tracking.py); the chosen people are picked from those tracks (`--person auto|all|N,M`);
2. landmarks: every frame, the landmark graph on a rotated crop around each chosen person. The crop comes
   from the previous frame's landmarks (as MediaPipe tracks); the chosen track's detections re-anchor it
   when the landmarks drift onto someone else, and the detector runs again when the person is lost.
   Frames are cropped in small batches with a speculative ROI and kept only where it matches the exact one;
   the batch is split over two threads.
Decoding runs in a thread beside the networks (OpenCV and the runtimes release the GIL). With `--person
auto` the two passes run at the same time, fed by one decoder, while the scan has seen one person only;
the landmark pass's questions about the tracks are logged and checked against the whole scan, and the pass
runs again in the rare case they differ (see `capture_2d`). On a 2-core machine this hides most of the scan.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import BadInput
from ..video import VideoInfo, iter_frames
from . import blazepose as bp
from .appearance import describe, thumbnail
from .backends import PoseNets
from .tracking import Track, TrackBuilder, build_tracks, choose_people, rank_tracks, similar_size

SCANS_PER_SECOND = 8.0
LANDMARK_BATCH = 4  # frames cropped with one speculative ROI and run as one batch
ROI_TOLERANCE = 0.06  # a speculative ROI within 6% of the size (centre and size) and ...
ROI_TURN_TOLERANCE = 0.1  # ... 0.1 rad of the exact one gives the same landmarks, near enough
DETECT_BATCH = 8
FEED_MEMORY_MB = 400  # the most frames a concurrent capture may queue (1080p 60 fps: 137 MB; 4K 30 fps: 348)
TILE_EVERY = 3  # scanned frames between two looks through the tiles
MAX_SPEED = 3.0  # body radii per second the hips may move between two good frames ...
MAX_JUMP_WINDOW_S = 1.0  # ... checked when the last good frame is at most this old
SAME_PERSON_DIST = 0.5  # landmark hips this far from the track's detection (in body radii): someone else
SAME_BODY = 0.25  # two people's keypoints this close (median, in torso lengths): one body, followed twice


@dataclass
class Person2D:
    number: int  # the person's track number (tracks are ranked by prominence: 0 is `--person auto`'s)
    joints2d: np.ndarray  # (T, 33, 3) float32: x, y pixels, visibility in [0, 1]
    valid: np.ndarray  # (T,) bool: the person was found in this frame
    presence: np.ndarray  # (T, 33) float32: landmark presence in [0, 1]


@dataclass
class Capture2D:
    people: list[Person2D]  # the chosen people, in the order asked for
    first_frame: int
    tracks: list[Track]  # every person's track, ranked

    # The first chosen person's fields (the only one with `--person auto` or N).
    @property
    def joints2d(self) -> np.ndarray:
        return self.people[0].joints2d

    @property
    def valid(self) -> np.ndarray:
        return self.people[0].valid

    @property
    def presence(self) -> np.ndarray:
        return self.people[0].presence

    @property
    def person(self) -> int:
        return self.people[0].number


@dataclass
class _Failure:
    """An exception raised in the decoding thread, handed to the consumer to raise."""

    exc: BaseException


_END = object()  # the end of a stream handed through a queue


def _put(q: queue.Queue, item, stop: threading.Event, open_: threading.Event | None = None) -> bool:
    """Put, waiting for room; False when `stop` is set (or `open_` cleared) meanwhile."""
    while not stop.is_set() and (open_ is None or open_.is_set()):
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _items(q: queue.Queue, stop: threading.Event) -> Iterator:
    """What a producer thread puts into `q`, up to _END; a _Failure is raised here. Ends early when `stop`
    is set and nothing is waiting."""
    while True:
        try:
            item = q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                return
            continue
        if item is _END:
            return
        if isinstance(item, _Failure):
            raise item.exc
        yield item


def _threaded(it: Iterator, depth: int = 6) -> Iterator:
    """Run an iterator in a thread with a bounded queue: decoding overlaps inference, memory stays flat."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def worker():
        end = _END
        try:
            for item in it:
                if not _put(q, item, stop):
                    return
        except BaseException as exc:  # handed to the consumer
            end = _Failure(exc)
        _put(q, end, stop)

    th = threading.Thread(target=worker, daemon=True)
    th.start()
    try:
        yield from _items(q, stop)
    finally:
        stop.set()
        th.join(timeout=5)


class _FrameFeed:
    """One decoder for both passes of a concurrent capture: every frame goes to the landmark pass, every
    `scan_step`-th to the scan as well (a second decoder's grab() alone costs 2.4 ms of CPU a frame on
    1080x1920 H.264).

    The landmark pass may wait for the scan to pass the next scanned frame (`ProvisionalFollow.closest`),
    so its queue holds more than a scan step of frames (`capacity`: with less, decoder, scan and landmark
    pass would wait on each other). When the landmark pass stops early (`close_landmarks`: the scan saw a
    second person) the scan goes on alone.
    """

    def __init__(self, info: VideoInfo, start: int, end: int, warn: Callable[[str], None] | None):
        self.info, self.start, self.end, self.warn = info, start, end, warn
        self.step = scan_step(info.fps)
        self._landmarks: queue.Queue = queue.Queue(maxsize=self.capacity(info))
        self._scan: queue.Queue = queue.Queue(maxsize=4)
        self._landmarks_open = threading.Event()
        self._landmarks_open.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._decode, daemon=True)

    @staticmethod
    def capacity(info: VideoInfo) -> int:
        return 2 * scan_step(info.fps) + LANDMARK_BATCH + 2

    @staticmethod
    def fits(info: VideoInfo) -> bool:
        """Whether the landmark pass's queue of frames stays within FEED_MEMORY_MB."""
        return _FrameFeed.capacity(info) * info.width * info.height * 3 <= FEED_MEMORY_MB * 2**20

    def start_decoding(self) -> None:
        self._thread.start()

    def _decode(self) -> None:
        end_item = _END
        try:
            for i, frame in iter_frames(self.info, self.start, self.end, on_warning=self.warn):
                _put(self._landmarks, (i, frame), self._stop, self._landmarks_open)  # dropped once closed
                if frame is not None and (i - self.start) % self.step == 0:
                    if not _put(self._scan, (i, frame), self._stop):
                        return
        except BaseException as exc:  # handed to both consumers
            end_item = _Failure(exc)
        _put(self._landmarks, end_item, self._stop, self._landmarks_open)
        _put(self._scan, end_item, self._stop)

    def scan_frames(self) -> Iterator[tuple[int, np.ndarray]]:
        return _items(self._scan, self._stop)

    def landmark_frames(self) -> Iterator[tuple[int, np.ndarray | None]]:
        return _items(self._landmarks, self._stop)

    def close_landmarks(self) -> None:
        """The landmark pass reads no more: drop its frames from now on."""
        self._landmarks_open.clear()
        while True:
            try:
                self._landmarks.get_nowait()
            except queue.Empty:
                return

    def stop(self) -> None:
        self._stop.set()
        self.close_landmarks()
        self._thread.join(timeout=5)


class Scanner:
    """Pass 1: the detector on every k-th frame. `run` fills `sightings` in frame order; another thread may
    read them while it runs (`wait_until`, `snapshot`).

    The whole frame is looked at on every scanned frame, the tiles that find small people (see
    `blazepose.detector_windows`) on every TILE_EVERY-th, the first included (so that a small person is
    seen from the start); once the tiles find someone the whole frame missed, people are small in this video
    and the tiles are used on every scanned frame from then on.
    """

    def __init__(self, nets: PoseNets, info: VideoInfo, start: int, end: int, batch: int = DETECT_BATCH,
                 progress: Callable[[str, int, int], None] | None = None,
                 frames: Iterator[tuple[int, np.ndarray]] | None = None):
        """frames: the frames to scan (every `scan_step`-th, in order) from a decoder shared with the landmark
        pass (`_FrameFeed`); by default the scan decodes the video itself."""
        self.nets, self.info, self.start, self.end = nets, info, start, end
        self.batch_size, self.progress, self.frames = batch, progress, frames
        self.sightings: list[tuple[int, list[bp.Detection]]] = []
        self.covered = start  # every frame before this one has been scanned
        self.done = False
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._stop = threading.Event()

    def run(self) -> None:
        try:
            self._scan()
        except BaseException as exc:  # handed to the thread that waits on the scan
            self.error = exc
        finally:
            with self._cond:
                self.done = True
                self._cond.notify_all()

    def stop(self) -> None:
        self._stop.set()

    def tracks(self) -> list[Track]:
        """Ranked tracks of everything scanned so far (all of the clip once `done`)."""
        if self.error is not None:
            raise self.error
        return rank_tracks(build_tracks(self.snapshot()[0], self.info.fps), self.info.width, self.info.height)

    def snapshot(self, since: int = 0) -> tuple[list[tuple[int, list[bp.Detection]]], int]:
        """(sightings from the `since`-th on, frames covered): sightings only ever grow at the end."""
        with self._cond:
            return self.sightings[since:], (self.end if self.done else self.covered)

    def wait_until(self, frame: int) -> None:
        """Block until every frame before `frame` is scanned (or the scan has ended)."""
        with self._cond:
            while not self.done and self.covered < min(frame, self.end):
                self._cond.wait()
        if self.error is not None:
            raise self.error

    def _scan(self) -> None:
        info, start, end = self.info, self.start, self.end
        step = scan_step(info.fps)
        all_views = bp.detector_windows(info.width, info.height)
        tiles_needed = threading.Event()

        def inputs(frames):
            for i, frame in frames:
                if frame is not None:
                    tiles = tiles_needed.is_set() or ((i - start) // step) % TILE_EVERY == 0
                    views = all_views if tiles else all_views[:1]
                    yield i, views, np.stack([bp.detector_input(frame, lb) for lb in views]), thumbnail(frame)

        if self.frames is not None:
            stream = inputs(self.frames)
        else:  # own decoder, in a thread; undecodable frames are reported once, by the landmark pass
            stream = _threaded(inputs(iter_frames(info, start, end, grab_only=lambda i: (i - start) % step != 0)))

        batch: list[tuple[int, list[bp.Letterbox], np.ndarray, tuple[np.ndarray, float]]] = []

        def flush(covered: int):
            found_all = []
            if batch:
                boxes, scores = self.nets.detect(np.concatenate([x for _, _, x, _ in batch]))
                k = 0
                for i, views, _, (small, scale) in batch:
                    raw = [(boxes[k + v], scores[k + v]) for v in range(len(views))]
                    found = bp.decode_detections(raw, views)
                    for d in found:  # what each person looks like: who is who after a crossing or a gap
                        d.appearance = describe(small, d, scale)
                    if len(views) > 1 and len(found) > len(bp.decode_detections(raw[:1], views[:1])):
                        tiles_needed.set()
                    found_all.append((i, found))
                    k += len(views)
                batch.clear()
            with self._cond:
                self.sightings.extend(found_all)
                self.covered = covered
                self._cond.notify_all()

        for i, views, x, small in stream:
            if self._stop.is_set():
                return
            batch.append((i, views, x, small))
            if len(batch) == self.batch_size:
                flush(min(end, i + step))  # the frames up to the next scanned one are never scanned
                if self.progress:
                    self.progress("scan", i - start + 1, end - start)
        flush(end)
        if self.progress:
            self.progress("scan", end - start, end - start)


def scan_step(fps: float) -> int:
    """The scan looks at every scan_step-th frame."""
    return max(1, round(fps / SCANS_PER_SECOND))


def scan_people(nets: PoseNets, info: VideoInfo, start: int, end: int,
                progress: Callable[[str, int, int], None] | None = None) -> list[Track]:
    """Pass 1 on its own: tracks ranked by prominence, most prominent first."""
    scanner = Scanner(nets, info, start, end, progress=progress)
    scanner.run()
    return scanner.tracks()


class Follow:
    """What the landmark pass asks about the followed person (track `index` of the ranked `tracks`)."""

    def __init__(self, tracks: list[Track], index: int, fps: float):
        self.tracks = tracks
        self.track = tracks[index] if 0 <= index < len(tracks) else None
        self.fps = fps
        self.max_gap = int(round(2 * fps))

    def alive(self, i: int) -> bool:
        return self.track is not None and self.track.alive_at(i, self.max_gap)

    def detection(self, i: int) -> bp.Detection | None:
        return None if self.track is None else self.track.detection_at(i)

    def closest(self, dets: list[bp.Detection], i: int) -> bp.Detection | None:
        return None if self.track is None else self.track.closest(dets, i, self.fps)

    def stolen(self, points: np.ndarray, det: bp.Detection | None, i: int) -> bool:
        return self.track is not None and _stolen(points, det, self.tracks, self.track, i)


class _Crowded(Exception):
    """The scan has found more than one person: the choice between them waits for the whole scan."""


class ProvisionalFollow(Follow):
    """The same questions answered while the scan still runs, from the tracks scanned so far, for a video
    where one person has been seen so far (another one raises _Crowded). Every answer is logged; `agrees`
    replays the log against the final tracks. When they agree, the landmark pass saw exactly what it would
    have seen after a whole scan (it is deterministic given these answers), so its result is the two-pass
    result.

    A question about frame i waits until the scan has passed frame i; `closest` also for the next scanned
    frame, since the final track's position between two sightings is interpolated. Track linking looks
    only backwards, so the other answers rarely change later (a person who was out of sight and comes back
    does change `alive`; then the pass runs again).
    """

    def __init__(self, scanner: Scanner, fps: float):
        super().__init__([], 0, fps)
        self.scanner = scanner
        self.step = scan_step(fps)
        self.built_until = scanner.start
        self.builder = TrackBuilder(fps)
        self.added = 0  # sightings given to the builder so far
        self.log: list[tuple] = []

    def _at(self, i: int, ahead: int = 0) -> None:
        """Tracks from every sighting up to frame i + ahead."""
        need = min(i + ahead + 1, self.scanner.end)
        if self.built_until >= need:
            return
        self.scanner.wait_until(need)
        new, covered = self.scanner.snapshot(self.added)
        for frame, dets in new:
            self.builder.add(frame, dets)
        self.added += len(new)
        self.tracks = self.builder.tracks()
        if len(self.tracks) > 1:
            raise _Crowded
        self.track = self.tracks[0] if self.tracks else None
        self.built_until = covered

    def alive(self, i: int) -> bool:
        self._at(i)
        ans = super().alive(i)
        self.log.append(("alive", i, ans))
        return ans

    def detection(self, i: int) -> bp.Detection | None:
        self._at(i)
        ans = super().detection(i)
        self.log.append(("detection", i, ans))
        return ans

    def closest(self, dets: list[bp.Detection], i: int) -> bp.Detection | None:
        self._at(i, self.step)
        ans = super().closest(dets, i)
        self.log.append(("closest", i, dets, ans))
        return ans

    def stolen(self, points: np.ndarray, det: bp.Detection | None, i: int) -> bool:
        self._at(i)
        ans = super().stolen(points, det, i)
        self.log.append(("stolen", i, points, det, ans))
        return ans

    def agrees(self, final: Follow) -> bool:
        for entry in self.log:
            kind, i = entry[0], entry[1]
            if kind == "alive":
                same = final.alive(i) == entry[2]
            elif kind == "detection":
                same = final.detection(i) is entry[2]
            elif kind == "closest":
                same = final.closest(entry[2], i) is entry[3]
            else:
                same = final.stolen(entry[2], entry[3], i) == entry[4]
            if not same:
                return False
        return True


def capture_2d(nets: PoseNets, info: VideoInfo, start: int = 0, end: int | None = None,
               person: int | str | list[int] | None = None,
               progress: Callable[[str, int, int], None] | None = None,
               warn: Callable[[str], None] | None = None,
               on_restart: Callable[[], None] | None = None, concurrent: bool = True) -> Capture2D:
    """Track everyone over frames [start, end), then capture the chosen people's keypoints.

    person: None follows the most prominent track (`--person auto`), N track N, [N, M, ...] those tracks,
    "all" every person the scan is sure of (`tracking.choose_people`). The landmark pass follows all the
    chosen people over one decoding of the video, each with its own crop; a body is one person's in each frame
    (`_one_body_one_person`).
    concurrent: for `person` None, the landmark pass starts while the scan runs (one decoder feeding both,
    `_FrameFeed`; each pass on its own core) and follows the one person seen so far. If the scan finds a
    second person, or the whole scan would have answered any of the landmark pass's questions differently,
    on_restart() is called and the landmark pass runs again after the scan, as `concurrent=False` does from
    the start. Either way the result is the two-pass result. Videos whose frames would not fit the feed's
    memory (FEED_MEMORY_MB) run the two passes one after the other.
    """
    import cv2

    # Image operations here are small (crops of 256 px); OpenCV's worker threads only contend with the
    # decoder and the networks (measured: a 256 px warp 0.33 ms on one thread, 0.83 ms on two).
    cv2.setNumThreads(1)
    end = info.frame_count if end is None else min(end, info.frame_count)
    if end <= start:
        raise BadInput(f"empty frame range {start}..{end} (the video has {info.frame_count} frames)")
    if warn is not None:
        warn = _once(warn)  # a landmark pass that runs again must not repeat its warnings
    results = follow = None
    if concurrent and person is None and _FrameFeed.fits(info):
        feed = _FrameFeed(info, start, end, warn)
        # detector batches of one frame: the landmark pass waits for the scan to pass each frame
        scanner = Scanner(nets, info, start, end, batch=1, progress=progress, frames=feed.scan_frames())
        thread = threading.Thread(target=scanner.run, daemon=True)
        thread.start()
        feed.start_decoding()
        try:
            follow = ProvisionalFollow(scanner, info.fps)
            results = _landmark_pass(nets, info, start, end, [follow], progress, warn, feed.landmark_frames())
        except _Crowded:
            feed.close_landmarks()  # the scan goes on to the end
        except BaseException:
            scanner.stop()
            feed.stop()
            raise
        finally:
            thread.join()
        feed.stop()
        tracks = scanner.tracks()
    else:
        tracks = scan_people(nets, info, start, end, progress)
    chosen = choose_people(tracks, person)
    follows = [Follow(tracks, n, info.fps) for n in chosen]
    if results is None or not follow.agrees(follows[0]):
        if follow is not None and on_restart is not None:
            on_restart()
        results = _landmark_pass(nets, info, start, end, follows, progress, warn)
    if len(follows) > 1:
        _one_body_one_person(results, follows, start)
    people = [Person2D(n, *r) for n, r in zip(chosen, results)]
    if person == "all":  # someone the landmarks never found is not kept
        seen = [p for p in people if p.valid.any()]
        for p in people:
            if not p.valid.any() and warn is not None:
                warn(f"person {p.number}: the detector saw someone the landmarks never found; left out")
        people = seen or people[:1]
    if not any(p.valid.any() for p in people):
        raise BadInput("no person found in the video")
    lost = [p.number for p in people if not p.valid.any()]
    if lost:
        raise BadInput(f"person {lost[0]}: the detector saw someone there, but no pose was found in any frame")
    return Capture2D(people, start, tracks)


def _once(warn: Callable[[str], None]) -> Callable[[str], None]:
    seen: set[str] = set()

    def warn_once(message: str) -> None:
        if message not in seen:
            seen.add(message)
            warn(message)
    return warn_once


def _one_body_one_person(results: list[tuple[np.ndarray, np.ndarray, np.ndarray]], follows: list[Follow],
                         start: int) -> None:
    """Where two people's landmarks lie on one body (one crop slid onto the other person), the frame stays
    with the person whose track expects them there and is marked invalid for the other. In place."""
    for a in range(len(results)):
        for b in range(a + 1, len(results)):
            ja, va, _ = results[a]
            jb, vb, _ = results[b]
            for k in np.nonzero(va & vb)[0]:
                hips_a, hips_b = ja[k, [23, 24], :2].mean(0), jb[k, [23, 24], :2].mean(0)
                torso = max(float(np.hypot(*(ja[k, [11, 12], :2].mean(0) - hips_a))), 1.0)
                if np.median(np.hypot(*(ja[k, :, :2] - jb[k, :, :2]).T)) > SAME_BODY * torso:
                    continue
                i = start + int(k)
                off_a = _off_track(follows[a], hips_a, i)
                off_b = _off_track(follows[b], hips_b, i)
                loser = results[b] if off_b >= off_a else results[a]
                loser[1][k] = False
                loser[0][k] = 0.0
                loser[2][k] = 0.0


def _off_track(follow: Follow, hips: np.ndarray, i: int) -> float:
    """How far the hips are from where the person's track expects them at frame i, in body radii."""
    if follow.track is None:
        return np.inf
    expected, radius = follow.track.predict(i)
    return float(np.hypot(*(hips - expected))) / max(radius, 1.0)


class _Follower:
    """One person's state in the landmark pass: the crop (ROI) carried from frame to frame, the last good
    pose, and the keypoints found so far. `step` runs a chunk of frames for this person."""

    def __init__(self, nets: PoseNets, info: VideoInfo, start: int, end: int, follow: Follow,
                 views: list[bp.Letterbox], helper: ThreadPoolExecutor | None):
        self.nets, self.info, self.start, self.follow = nets, info, start, follow
        self.views, self.helper = views, helper
        total = end - start
        self.joints2d = np.zeros((total, bp.NUM_KEYPOINTS, 3), np.float32)
        self.presence = np.zeros((total, bp.NUM_KEYPOINTS), np.float32)
        self.valid = np.zeros(total, bool)
        self.roi: bp.Roi | None = None
        self.last: tuple[int, np.ndarray, float] | None = None  # frame, hip centre, body radius of the last good pose

    def step(self, chunk: list[tuple[int, np.ndarray | None]]) -> None:
        # Speculation: the rest of the chunk is cropped with the ROI of the frame at hand, and the crops
        # run as one batch. Walking the chunk in order, a frame keeps its speculative result only when
        # that ROI is close to the one its predecessor's landmarks give; otherwise the rest of the chunk
        # is cropped again with the new ROI. Sequential tracking's results at batched speed while the
        # person moves steadily.
        nets, follow, views, roi = self.nets, self.follow, self.views, self.roi
        guesses: dict[int, tuple[bp.Roi, np.ndarray, np.ndarray]] = {}
        for n, (i, frame) in enumerate(chunk):
            guess = guesses.get(i)
            points = None
            if frame is None:
                roi = None  # undecodable frame: invalid, and re-anchor on the next good one
            elif follow.alive(i):
                det = follow.detection(i)
                if roi is None or det is not None:
                    anchor = det if det is not None else _find_on_track(nets, frame, views, follow, i)
                    if roi is None and anchor is not None:
                        roi = bp.roi_from_detection(anchor)
                if roi is not None:
                    if guess is None or not _close(guess[0], roi):
                        rest = [(j, f) for j, f in chunk[n:] if f is not None and follow.alive(j)]
                        if len(rest) > 1:
                            raws, flags = _speculate(nets, [f for _, f in rest], roi, self.helper)
                            guesses.update({j: (roi, raws[m], flags[m]) for m, (j, _) in enumerate(rest)})
                            guess = guesses[i]
                    points = _landmarks(nets, frame, roi, guess)
                    if points is not None and det is not None and not _same_person(points, det):
                        points = _landmarks(nets, frame, bp.roi_from_detection(det))  # drifted: re-anchor
                    if points is not None and (follow.stolen(points, det, i)
                                               or _jumped(points, det, self.last, i, self.info.fps)):
                        points = None  # the crop slid onto someone else (a passer-by): drop, re-anchor later
                    elif points is None and det is None:
                        anchor = _find_on_track(nets, frame, views, follow, i)  # lost: look again
                        if anchor is not None:
                            points = _landmarks(nets, frame, bp.roi_from_detection(anchor))
                roi = bp.roi_from_landmarks(points) if points is not None else None
            else:
                roi = None
            k = i - self.start
            if points is not None:
                self.last = (i, points[[23, 24], :2].mean(0), roi.size / bp.ROI_SCALE / 2)
                self.joints2d[k, :, :2] = points[: bp.NUM_KEYPOINTS, :2]
                self.joints2d[k, :, 2] = points[: bp.NUM_KEYPOINTS, 3]
                self.presence[k] = points[: bp.NUM_KEYPOINTS, 4]
                self.valid[k] = True
        self.roi = roi


def _landmark_pass(nets: PoseNets, info: VideoInfo, start: int, end: int, follows: list[Follow],
                   progress: Callable[[str, int, int], None] | None,
                   warn: Callable[[str], None] | None,
                   frames: Iterator[tuple[int, np.ndarray | None]] | None = None,
                   ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Pass 2: landmarks on every frame for each person of `follows`, over one decoding of the video (the cost
    of a frame grows with the number of people, the decoding does not). Returns (joints2d, valid, presence)
    per person.

    frames: frames start..end-1 from a shared decoder (`_FrameFeed`); by default the pass decodes them.
    """
    if frames is None:
        frames = _threaded(iter_frames(info, start, end, on_warning=warn))
    views = bp.detector_windows(info.width, info.height)
    total = end - start
    helper = ThreadPoolExecutor(1) if nets.parallel_landmarks else None
    followers = [_Follower(nets, info, start, end, f, views, helper) for f in follows]
    try:
        for chunk in _chunks(frames, LANDMARK_BATCH):
            for follower in followers:
                follower.step(chunk)
            if progress:
                for i, _ in chunk:
                    progress("landmarks", i - start + 1, total)
    finally:
        if helper is not None:
            helper.shutdown()
    return [(f.joints2d, f.valid, f.presence) for f in followers]


def _speculate(nets: PoseNets, frames: list[np.ndarray], roi: bp.Roi, helper: ThreadPoolExecutor | None
               ) -> tuple[np.ndarray, np.ndarray]:
    """The landmark graph on `frames` cropped with one ROI. With a helper thread, half the frames are
    cropped and run there at the same time: the landmark pass is the capture's critical path, and the
    decoder and the scan leave the other core idle a good part of the time."""
    def run(part):
        return nets.landmarks(np.stack([bp.landmark_input(f, roi) for f in part]))

    if helper is None:
        return run(frames)
    half = len(frames) // 2
    other = helper.submit(run, frames[half:])
    raws, flags = run(frames[:half])
    raws2, flags2 = other.result()
    return np.concatenate([raws, raws2]), np.concatenate([flags, flags2])


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
    """Whether the landmarks sit on another person's detection rather than on the followed track's. A detection
    of a very different size (a box around the scenery or two people) is nobody's body."""
    if det is not None and _same_person(points, det):
        return False
    radius = bp.roi_from_landmarks(points).size / bp.ROI_SCALE / 2
    for t in tracks:
        other = t.detection_at(i) if t is not ours else None
        if other is not None and _same_person(points, other) and similar_size(other.radius, radius):
            return True
    return False


def _find_on_track(nets: PoseNets, frame: np.ndarray, views: list[bp.Letterbox], follow: Follow,
                   i: int) -> bp.Detection | None:
    """Run the detector on this frame and return the detection that continues the followed track."""
    boxes, scores = nets.detect(np.stack([bp.detector_input(frame, lb) for lb in views]))
    dets = bp.decode_detections(list(zip(boxes, scores)), views)
    return follow.closest(dets, i)
