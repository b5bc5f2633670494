"""Person tracks from sparse detections, and the choice of whom to follow.

The capture first runs the detector on a few frames per second over the whole clip (cheap), links the
detections into tracks, and picks the most prominent track: the person seen longest and largest, so a
passer-by crossing in front cannot steal the capture. The landmark pass then follows that track.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from .blazepose import Detection

LINK_DIST = 0.5  # a detection continues a track when its hip centre is this close (in body radii) ...
LINK_DIST_PER_S = 0.2  # ... plus this much per second since the track was last seen
MAX_GAP_S = 1.5  # a track unseen for longer ends (it may be merged back later)
EXTRAPOLATE_S = 0.3  # seconds a track's motion is followed past its last sighting
START_SCORE = 0.7
PASSER_EDGE = 0.2  # first and last sighting within this fraction of the width from a side ...
PASSER_TRAVEL = 0.5  # ... and this much of the width travelled: a passer-by
PASSER_WEIGHT = 0.25  # weaker detections may continue a track but not start one


@dataclass
class Track:
    frames: list[int] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)
    fps_hint: float = 30.0

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def prominence(self, image_height: float) -> float:
        """Sum over sightings of score x body radius relative to the image: long and large wins."""
        return float(sum(d.score * d.radius / image_height for d in self.detections))

    def predict(self, frame: int) -> tuple[np.ndarray, float]:
        """Hip centre (2,) and body radius at `frame`: linear between sightings, constant outside them."""
        f = np.asarray(self.frames)
        hips = np.stack([d.keypoints[0] for d in self.detections])
        radius = np.median([d.radius for d in self.detections])
        return np.array([np.interp(frame, f, hips[:, 0]), np.interp(frame, f, hips[:, 1])]), float(radius)

    def closest(self, dets: list[Detection], frame: int, fps: float = 30.0) -> Detection | None:
        """The detection that plausibly continues this track at `frame`, or None."""
        if not dets:
            return None
        hip, radius = self.predict(frame)
        i = bisect.bisect_left(self.frames, frame)
        gap = min(abs(self.frames[j] - frame) for j in (i - 1, i) if 0 <= j < len(self.frames))
        limit = (LINK_DIST + LINK_DIST_PER_S * gap / fps) * radius
        dist = [float(np.hypot(*(d.keypoints[0] - hip))) for d in dets]
        best = int(np.argmin(dist))
        return dets[best] if dist[best] <= limit else None

    def detection_at(self, frame: int) -> Detection | None:
        i = bisect.bisect_left(self.frames, frame)
        if i < len(self.frames) and self.frames[i] == frame:
            return self.detections[i]
        return None

    def alive_at(self, frame: int, max_gap: int) -> bool:
        """Whether the person is plausibly in view at `frame` (within max_gap of a sighting)."""
        i = bisect.bisect_left(self.frames, frame)
        near = [self.frames[j] for j in (i - 1, i) if 0 <= j < len(self.frames)]
        return any(abs(n - frame) <= max_gap for n in near)


def build_tracks(sightings: list[tuple[int, list[Detection]]], fps: float) -> list[Track]:
    """Link per-frame detections (frame, detections) into tracks, greedily by the distance of their hip
    centres to where each track is expected."""
    builder = TrackBuilder(fps)
    for frame, dets in sightings:
        builder.add(frame, dets)
    return builder.tracks()


class TrackBuilder:
    """`build_tracks` one sighting at a time, for a scan that is still running: `tracks()` at any point is
    what `build_tracks` gives for the sightings added so far, at the cost of the new ones only."""

    def __init__(self, fps: float):
        self.fps = fps
        self.max_gap = max(1, int(round(MAX_GAP_S * fps)))
        self.active: list[Track] = []
        self.done: list[Track] = []

    def add(self, frame: int, dets: list[Detection]) -> None:
        fps, max_gap = self.fps, self.max_gap
        still = []
        for t in self.active:
            (still if frame - t.last <= max_gap else self.done).append(t)
        active = self.active = still
        pairs = []
        for ti, t in enumerate(active):
            hip, radius = _extrapolate(t, frame)
            limit = (LINK_DIST + LINK_DIST_PER_S * (frame - t.last) / fps) * radius
            for di, d in enumerate(dets):
                dist = float(np.hypot(*(d.keypoints[0] - hip)))
                if dist <= limit:
                    pairs.append((dist / radius, ti, di))
        used_t, used_d = set(), set()
        for _, ti, di in sorted(pairs):
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            active[ti].frames.append(frame)
            active[ti].detections.append(dets[di])
        for di, d in enumerate(dets):
            if di not in used_d and d.score >= START_SCORE:
                active.append(Track([frame], [d], fps))

    def tracks(self) -> list[Track]:
        """The tracks so far, fragments merged (on copies: the builder goes on linking its own)."""
        copies = [Track(list(t.frames), list(t.detections), t.fps_hint) for t in self.done + self.active]
        return _merge_fragments(copies, self.max_gap)


def _extrapolate(t: Track, frame: int) -> tuple[np.ndarray, float]:
    """The track's hip centre at `frame` and its body radius.

    Velocity is a least-squares fit over the last few sightings (one odd detection must not fling the
    prediction across the frame) and is followed for at most EXTRAPOLATE_S past the last sighting.
    """
    recent = t.detections[-5:]
    # The median of recent radii: one odd detection (two people merged into one box) must not widen the gate.
    radius = float(np.median([d.radius for d in recent]))
    last = recent[-1].keypoints[0]
    if len(recent) < 3:
        return last, radius
    f = np.asarray(t.frames[-5:], float)
    hips = np.stack([d.keypoints[0] for d in recent])
    fc = f - f.mean()
    v = (fc[:, None] * (hips - hips.mean(0))).sum(0) / max(float((fc**2).sum()), 1e-9)
    dt = min(frame - t.frames[-1], EXTRAPOLATE_S * t.fps_hint)
    return last + v * dt, radius


def _merge_fragments(tracks: list[Track], max_gap: int) -> list[Track]:
    """Join a track that ends to one that starts soon after where it left off (a short occlusion)."""
    tracks = sorted(tracks, key=lambda t: t.first)
    merged: list[Track] = []
    for t in tracks:
        best = None
        for m in merged:
            gap = t.first - m.last
            if 0 < gap <= 2 * max_gap:
                a, b = m.detections[-1], t.detections[0]
                dist = np.hypot(*(a.keypoints[0] - b.keypoints[0]))
                radius = float(np.median([d.radius for d in m.detections[-5:]]))
                limit = (LINK_DIST + LINK_DIST_PER_S * gap / max_gap * MAX_GAP_S) * radius
                if dist < limit and (best is None or m.last > best.last):
                    best = m
        if best is not None:
            best.frames += t.frames
            best.detections += t.detections
        else:
            merged.append(t)
    return merged


def is_passer_by(t: Track, width: float) -> bool:
    """A track that comes in at one side of the frame and leaves at the other: someone walking through."""
    xs = [d.keypoints[0][0] for d in t.detections]
    near_edge = lambda x: x < PASSER_EDGE * width or x > (1 - PASSER_EDGE) * width  # noqa: E731
    return near_edge(xs[0]) and near_edge(xs[-1]) and abs(xs[-1] - xs[0]) > PASSER_TRAVEL * width


def rank_tracks(tracks: list[Track], image_width: float, image_height: float) -> list[Track]:
    """Tracks ordered by prominence, most prominent first: person 0 is the one `--person auto` follows.

    Someone crossing the frame from side to side counts for a quarter: the subject of a capture stays.
    """
    def score(t: Track) -> float:
        return t.prominence(image_height) * (PASSER_WEIGHT if is_passer_by(t, image_width) else 1.0)

    return sorted(tracks, key=lambda t: -score(t))
