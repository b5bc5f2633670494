"""Person tracks from sparse detections: everyone in view, each with one number, ranked by prominence.

The capture first runs the detector on a few frames per second over the whole clip (cheap) and links the
detections into tracks: frame to frame by where each track is expected (motion), a detection of a very
different size never continuing a track (a box around two people, or around the scenery, is not the
person). Fragments of one person are then joined (`_merge_fragments`): after a short gap where the motion
allows it, after a fast move (a flip, a jump) where a body could have got there, and after any gap where the
colours of the clothes match (`appearance`: someone who left the frame and came back). The tracks are ranked
by prominence (seen longest and largest, so a passer-by crossing in front does not come first); the capture
then chooses whom to keep (`--person auto`: the first; `all`; a list of numbers).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from .appearance import mean_descriptor, similarity
from .blazepose import Detection

LINK_DIST = 0.5  # a detection continues a track when its hip centre is this close (in body radii) ...
LINK_DIST_PER_S = 0.2  # ... plus this much per second since the track was last seen
MAX_GAP_S = 1.5  # a track unseen for longer ends (it may be merged back later)
EXTRAPOLATE_S = 0.3  # seconds a track's motion is followed past its last sighting
START_SCORE = 0.7
PASSER_EDGE = 0.2  # first and last sighting within this fraction of the width from a side ...
PASSER_TRAVEL = 0.5  # ... and this much of the width travelled: a passer-by
PASSER_WEIGHT = 0.25  # weaker detections may continue a track but not start one
APPEARANCE_WEIGHT = 3.0  # a colour difference (1 - Bhattacharyya) weighs as much as this many body radii
APPEARANCE_GATE = 0.15  # a detection this much more alike (Bhattacharyya) to another track's look is not this one
APPEARANCE_MEMORY = 10  # a track's look: the mean of its last this many sightings
SIZE_RATIO = 1.5  # a detection this many times larger or smaller than the track's recent body radius is not it
FAST_SPEED = 4.0  # body radii per second a body may travel in a fast move (a flip: about 2 radii in 0.4 s) ...
FAST_WINDOW_S = 1.0  # ... over a gap of at most this long between two fragments
REID_SIMILARITY = 0.93  # fragments this alike in colour (Bhattacharyya, `appearance`) are one person ...
REID_MARGIN = 0.03  # ... when no other candidate comes this close
CERTAIN_SCORE = 0.8  # tracks whose median detection score is lower rank after every other: boxes around
# scenery or around two people at once score 0.5-0.8, people 0.9 and more
MIN_SIGHTINGS = 3  # `--person all` keeps the certain tracks seen on at least this many scanned frames


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
        self.done_looks: list[np.ndarray | None] = []  # the look of each track in `done`, in order

    def add(self, frame: int, dets: list[Detection]) -> None:
        fps, max_gap = self.fps, self.max_gap
        still = []
        for t in self.active:
            (still if frame - t.last <= max_gap else self.done).append(t)
        active = self.active = still
        pairs = []
        looks = [mean_descriptor([x.appearance for x in t.detections[-APPEARANCE_MEMORY:]]) for t in active]
        alike = [[similarity(look, d.appearance) for d in dets] for look in looks]
        # people whose tracks have ended count too: someone who comes back is not whoever is in view
        for t in self.done[len(self.done_looks):]:
            self.done_looks.append(mean_descriptor([x.appearance for x in t.detections[-APPEARANCE_MEMORY:]]))
        gone = [[similarity(look, d.appearance) for d in dets] for look in self.done_looks]
        for ti, t in enumerate(active):
            hip, radius = _extrapolate(t, frame)
            limit = (LINK_DIST + LINK_DIST_PER_S * (frame - t.last) / fps) * radius
            for di, d in enumerate(dets):
                dist = float(np.hypot(*(d.keypoints[0] - hip)))
                if dist > limit or not similar_size(d.radius, radius):
                    continue
                # where two people are close, what they wear tells them apart: the colour difference to the
                # track's recent look adds to the distance (in body radii), and a detection that looks clearly
                # more like another track's person does not continue this one (it is that person coming out
                # from behind)
                a = alike[ti][di]
                others = [x[di] for o, x in enumerate(alike) if o != ti] + [x[di] for x in gone]
                if a is not None and any(x is not None and x > a + APPEARANCE_GATE for x in others):
                    continue
                pairs.append((dist / radius + APPEARANCE_WEIGHT * (0.0 if a is None else 1.0 - a), ti, di))
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


def similar_size(r: float, reference: float) -> bool:
    return reference / SIZE_RATIO <= r <= reference * SIZE_RATIO


def _merge_fragments(tracks: list[Track], max_gap: int) -> list[Track]:
    """Join fragments of one person: a track B that starts after a sighting of track A, and ends before A's
    next one (after A's end, or in a gap of A), continues A when

    - the gap is short (up to twice the linking gap) and B starts near where A was (a short occlusion);
    - the gap is under FAST_WINDOW_S and A's motion, extrapolated, reaches B at FAST_SPEED (a flip, a jump);
    - or, after any gap, A and B look alike (`appearance`, REID_SIMILARITY) and nothing else looks as alike
      (someone who left the frame and came back).
    Bodies of very different sizes are never joined. The best pair (motion first, then colour) is joined
    first, and again until no pair is left, so that chains of fragments become one track.
    """
    tracks = sorted(tracks, key=lambda t: t.first)
    fps = tracks[0].fps_hint if tracks else 30.0
    looks = [mean_descriptor([d.appearance for d in t.detections]) for t in tracks]
    while True:
        best = None
        for a, ta in enumerate(tracks):
            for b, tb in enumerate(tracks):
                i = _fits(ta, tb)
                if i is None:
                    continue
                before = Track(ta.frames[:i], ta.detections[:i], ta.fps_hint)
                radius = float(np.median([d.radius for d in before.detections[-5:]]))
                gap = tb.first - before.last
                if not similar_size(float(np.median([d.radius for d in tb.detections[:5]])), radius):
                    continue
                start = tb.detections[0].keypoints[0]
                near = float(np.hypot(*(before.detections[-1].keypoints[0] - start)))
                ahead = float(np.hypot(*(_extrapolate(before, tb.first)[0] - start)))
                cost = None
                alike = similarity(looks[a], looks[b])
                if _looks_like_another(alike, a, b, looks, tracks):
                    pass  # however plausible the motion: b is dressed like someone else who could be there
                elif gap <= 2 * max_gap and near < (LINK_DIST + LINK_DIST_PER_S * gap / fps) * radius:
                    cost = near / radius
                elif gap <= FAST_WINDOW_S * fps and ahead < (LINK_DIST + FAST_SPEED * gap / fps) * radius:
                    cost = 1.0 + ahead / radius
                elif alike is not None and alike >= REID_SIMILARITY and _clear_match(alike, a, b, looks, tracks):
                    cost = 10.0 + (1.0 - alike)
                if cost is not None and (best is None or cost < best[0]):
                    best = (cost, a, b)
        if best is None:
            return tracks
        _, a, b = best
        order = sorted(zip(tracks[a].frames + tracks[b].frames, range(len(tracks[a].frames) + len(tracks[b].frames))))
        detections = tracks[a].detections + tracks[b].detections
        tracks[a].frames = [f for f, _ in order]
        tracks[a].detections = [detections[k] for _, k in order]
        looks[a] = mean_descriptor([d.appearance for d in tracks[a].detections])
        del tracks[b], looks[b]


def _fits(ta: Track, tb: Track) -> int | None:
    """Where b can go into a: after a's sighting i - 1 and before its next one (b starts after a sighting of a
    and ends before a's next sighting, or a has ended). None when they overlap or b starts first."""
    i = bisect.bisect_left(ta.frames, tb.first)
    if i == 0 or (i < len(ta.frames) and ta.frames[i] <= tb.last):
        return None
    return i


def _looks_like_another(alike: float | None, a: int, b: int, looks: list, tracks: list[Track]) -> bool:
    """Whether fragment b looks clearly more (APPEARANCE_GATE) like another track that it could continue too."""
    if alike is None:
        return False
    size = float(np.median([d.radius for d in tracks[b].detections[:5]]))
    for c, tc in enumerate(tracks):
        if c in (a, b) or _fits(tc, tracks[b]) is None:
            continue
        if not similar_size(size, float(np.median([d.radius for d in tc.detections[-5:]]))):
            continue  # a body of another size is not a rival
        other = similarity(looks[c], looks[b])
        if other is not None and other > alike + APPEARANCE_GATE:
            return True
    return False


def _clear_match(alike: float, a: int, b: int, looks: list, tracks: list[Track]) -> bool:
    """Whether fragments a and b look clearly more alike than either looks like anyone seen at the same time as
    it (a track that overlaps a fragment in time is somebody else)."""
    for x in (a, b):
        tx = tracks[x]
        for c, tc in enumerate(tracks):
            if c in (a, b) or tc.last < tx.first or tc.first > tx.last:
                continue
            other = similarity(looks[c], looks[a + b - x])
            if other is not None and other > alike - REID_MARGIN:
                return False
    return True


def is_passer_by(t: Track, width: float) -> bool:
    """A track that comes in at one side of the frame and leaves at the other: someone walking through."""
    xs = [d.keypoints[0][0] for d in t.detections]
    near_edge = lambda x: x < PASSER_EDGE * width or x > (1 - PASSER_EDGE) * width  # noqa: E731
    return near_edge(xs[0]) and near_edge(xs[-1]) and abs(xs[-1] - xs[0]) > PASSER_TRAVEL * width


def rank_tracks(tracks: list[Track], image_width: float, image_height: float) -> list[Track]:
    """Tracks ordered by prominence, most prominent first: person 0 is the one `--person auto` follows.

    Someone crossing the frame from side to side counts for a quarter: the subject of a capture stays.
    Tracks of uncertain detections (median score under CERTAIN_SCORE) come after all the others.
    """
    def score(t: Track) -> float:
        return t.prominence(image_height) * (PASSER_WEIGHT if is_passer_by(t, image_width) else 1.0)

    return sorted(tracks, key=lambda t: (not is_certain(t), -score(t)))


def is_certain(t: Track) -> bool:
    return float(np.median([d.score for d in t.detections])) >= CERTAIN_SCORE


def choose_people(tracks: list[Track], person: int | str | list[int] | None) -> list[int]:
    """The ranked track numbers to capture. person: None (auto: the most prominent), N, [N, M...] or "all"
    (every certain track seen on MIN_SIGHTINGS scanned frames or more; the most prominent at least).
    BadInput for a number no track has."""
    from ..errors import BadInput

    if not tracks:
        raise BadInput("no person found in the video")
    if person == "all":
        chosen = [k for k, t in enumerate(tracks) if is_certain(t) and len(t.frames) >= MIN_SIGHTINGS]
        return chosen or [0]
    wanted = [0] if person is None else [person] if isinstance(person, int) else list(person)
    for n in wanted:
        if not 0 <= n < len(tracks):
            raise BadInput(f"--person {n}: only {len(tracks)} person track(s) found (0..{len(tracks) - 1})")
    return list(dict.fromkeys(wanted))
