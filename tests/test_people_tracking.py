"""Tracking everyone: the CMU salsa couple (lead and follow of one take, one world frame) filmed by a virtual
camera, their detections made from the projected mocap, and run through the capture's tracker.

What a detector would see is simulated from the mocap's BlazePose keypoints: the hip centre, the shoulder
centre and the body radius (hip centre to the farthest keypoint) with a little jitter; a dancer hidden behind
the other (hips closer than a body radius, farther from the camera) is not detected; a few detections are
missed at random. Each dancer wears their own colours (`appearance` descriptors drawn once per dancer, with
noise per sighting; the one behind mixed with the front one's colours where the two overlap).

Figures over every clip and four camera directions: `python tests/test_people_tracking.py` (prints them).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.detector import appearance as ap  # noqa: E402
from engine.detector.blazepose import Detection  # noqa: E402
from engine.detector.capture2d import scan_step  # noqa: E402
from engine.detector.tracking import build_tracks, choose_people, rank_tracks  # noqa: E402

SALSA = ROOT.parent / "shared" / "data" / "mocap" / "cmu-salsa"
WIDTH, HEIGHT = 1920, 1080
HIPS, SHOULDERS = [23, 24], [11, 12]


def couple(n: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Keypoints (T, 33, 3) metres, world Y up, of lead and follow of salsa take n, and the frame rate."""
    from engine.lifter.data import _place

    lead, fps = _place(SALSA / f"60_{n:02d}_scaled.bvh")
    follow, _ = _place(SALSA / f"61_{n:02d}_scaled.bvh")
    T = min(len(lead), len(follow))
    return lead[:T, 27:], follow[:T, 27:], fps


def project(points: np.ndarray, azimuth_deg: float, centre: np.ndarray, distance: float = 6.0) -> tuple:
    """Pixels (..., 2) and depth (...) of world points seen by a camera 1.5 m up, `distance` from `centre`
    horizontally, looking at it (60 degree field of view across the width)."""
    from engine.lifter.data import look_at

    a = np.radians(azimuth_deg)
    cam = centre + np.array([distance * np.sin(a), 0.0, distance * np.cos(a)])
    cam[1] = 1.5
    rot = look_at(cam[None], (centre + [0, 1.0 - centre[1], 0])[None], np.zeros(1))[0]
    c = (points - cam) @ rot.T
    f = 0.5 * WIDTH / np.tan(np.radians(30))
    px = f * c[..., :2] / c[..., 2:3] + [WIDTH / 2, HEIGHT / 2]
    return px, c[..., 2]


def _looks(rng: np.random.Generator) -> np.ndarray:
    per_region = [rng.dirichlet(np.full(ap.REGION_BINS, 0.1)) for _ in range(ap.SIZE // ap.REGION_BINS)]
    return np.concatenate(per_region).astype(np.float32)


def _noisy(look: np.ndarray, rng: np.random.Generator, other: np.ndarray | None, mix: float) -> np.ndarray:
    out = look * rng.uniform(0.7, 1.3, look.size)
    if other is not None:
        out = (1 - mix) * out + mix * other
    for r in range(ap.SIZE // ap.REGION_BINS):
        part = out[r * ap.REGION_BINS:(r + 1) * ap.REGION_BINS]
        part /= part.sum()
    return out.astype(np.float32)


def sightings(dancers: list[np.ndarray], fps: float, azimuth: float, seed: int, colours: bool = True):
    """What the scan would see: [(frame, [Detection])] and, per detection, which dancer it is."""
    rng = np.random.default_rng(seed)
    centre = np.concatenate([d[:, HIPS].mean(1) for d in dancers]).mean(0)
    views = [project(d, azimuth, centre) for d in dancers]
    looks = [_looks(rng) for _ in dancers]
    if not colours:
        looks = [looks[0]] * len(dancers)
    step = scan_step(fps)
    out, truth = [], []
    T = dancers[0].shape[0]
    for i in range(0, T, step):
        bodies = []
        for px, depth in views:
            hip, shoulder = px[i, HIPS].mean(0), px[i, SHOULDERS].mean(0)
            radius = 1.1 * float(np.hypot(*(px[i] - hip).T).max())
            bodies.append((hip, shoulder, radius, float(depth[i, HIPS].mean())))
        dets, who = [], []
        for k, (hip, shoulder, radius, depth) in enumerate(bodies):
            overlap = [(o, float(np.hypot(*(hip - b[0]))) / radius) for o, b in enumerate(bodies) if o != k]
            hidden = any(dist < 0.5 and bodies[o][3] < depth for o, dist in overlap)  # behind the other
            if hidden or rng.random() < 0.05 or not (0 <= hip[0] < WIDTH and 0 <= hip[1] < HEIGHT):
                continue
            up = (shoulder - hip) / max(float(np.hypot(*(shoulder - hip))), 1e-6)
            jitter = rng.normal(0, 0.03 * radius, 2)
            kps = np.stack([hip + jitter, hip + jitter + up * radius, shoulder + jitter, shoulder + jitter])
            # the one behind shows some of the front one's clothes in its box
            near = min(overlap, key=lambda x: x[1]) if overlap else None
            behind = near is not None and near[1] < 1.0 and bodies[near[0]][3] < depth
            other = looks[near[0]] if behind else None
            mix = 0.5 * (1.0 - near[1]) if behind else 0.0
            d = Detection(0.95, np.zeros(4), kps, _noisy(looks[k], rng, other, mix))
            dets.append(d)
            who.append(k)
        rng.shuffle(order := np.arange(len(dets)))
        out.append((i, [dets[j] for j in order]))
        truth.append([who[j] for j in order])
    return out, truth


def score_tracking(sight, truth, fps: float, n_people: int) -> tuple[int, float]:
    """(identity swaps, share of sightings with the right person) of the tracks `--person all` keeps.

    Each kept track stands for the dancer it holds most often; a swap is a change of kept track along a
    dancer's sightings (a fragment lost and not joined back counts too); the share is the dancer's sightings
    that went to their own track over all their sightings."""
    tracks = rank_tracks(build_tracks(sight, fps), WIDTH, HEIGHT)
    owner = {id(d): w for (_, dets), ws in zip(sight, truth) for d, w in zip(dets, ws)}
    kept = choose_people(tracks, "all")
    track_of: dict[int, int] = {}
    label: dict[int, int] = {}
    for n in kept:
        ids = [owner[id(d)] for d in tracks[n].detections]
        label[n] = int(np.bincount(ids, minlength=n_people).argmax())
        for d in tracks[n].detections:
            track_of[id(d)] = n
    swaps, right, total = 0, 0, 0
    for person in range(n_people):
        seq = [track_of.get(id(d), -1) for (_, dets), ws in zip(sight, truth) for d, w in zip(dets, ws)
               if w == person]
        total += len(seq)
        right += sum(1 for t in seq if t >= 0 and label[t] == person)
        seen = [t for t in seq if t >= 0]
        swaps += sum(1 for a, b in zip(seen, seen[1:]) if a != b)
    return swaps, right / max(total, 1)


def crossings(dancers: list[np.ndarray], fps: float, azimuth: float) -> int:
    """How often the dancers pass in front of each other (hips within half a body radius on the image)."""
    centre = np.concatenate([d[:, HIPS].mean(1) for d in dancers]).mean(0)
    px = [project(d, azimuth, centre)[0][:, HIPS].mean(1) for d in dancers]
    radius = 0.5 * np.hypot(*(project(dancers[0], azimuth, centre)[0][:, 0] - px[0]).T).mean()
    close = np.hypot(*(px[0] - px[1]).T) < 0.5 * radius
    return int(np.count_nonzero(np.diff(close.astype(int)) == 1))


@pytest.fixture(scope="module")
def salsa_takes():
    if not SALSA.is_dir():
        pytest.skip(f"no salsa mocap at {SALSA}")
    return [couple(n) for n in (1, 4)]


def test_salsa_couples_keep_their_numbers_through_crossings(salsa_takes):
    swaps = right = 0.0
    runs = crossed = 0
    for lead, follow, fps in salsa_takes:
        for azimuth in (0, 90):
            crossed += crossings([lead, follow], fps, azimuth)
            sight, truth = sightings([lead, follow], fps, azimuth, seed=azimuth)
            s, r = score_tracking(sight, truth, fps, 2)
            swaps += s
            right += r
            runs += 1
    assert crossed >= 4  # the clips do have the dancers passing in front of each other
    assert swaps <= 1 and right / runs > 0.97


def test_motion_alone_is_worse_than_motion_and_colour(salsa_takes):
    # the same dancers in the same clothes: motion is all the tracker has, and swaps at some crossings
    lead, follow, fps = salsa_takes[0]
    with_colour = [score_tracking(*sightings([lead, follow], fps, a, seed=a), fps, 2) for a in (0, 45, 90)]
    without = [score_tracking(*sightings([lead, follow], fps, a, seed=a, colours=False), fps, 2) for a in (0, 45, 90)]
    assert sum(s for s, _ in with_colour) <= sum(s for s, _ in without)


def test_a_person_seen_twice_and_everyone_leaving():
    # two people; everyone leaves the frame for almost 3 s and they come back each on the other's side (only
    # their clothes tell who is who); a third person is seen on two scanned frames only
    rng = np.random.default_rng(0)
    who: dict[int, str] = {}

    def det(name, x, y, look, r=150.0):
        kps = np.array([[x, y], [x, y - r], [x, y - 0.5 * r], [x, y - r]], float)
        d = Detection(0.95, np.zeros(4), kps, _noisy(look, rng, None, 0))
        who[id(d)] = name
        return d

    a, b, c = (_looks(rng) for _ in range(3))
    sight = []
    for f in range(0, 300, 4):
        dets = []
        if f < 120:
            dets += [det("a", 300 + f, 500, a), det("b", 1500 - f, 520, b)]
        elif f >= 200:
            dets += [det("a", 1500 - (f - 200), 520, a), det("b", 300 + (f - 200), 500, b)]
        if f in (40, 44):
            dets.append(det("c", 960, 300, c, r=120))
        sight.append((f, dets))
    tracks = rank_tracks(build_tracks(sight, 30.0), WIDTH, HEIGHT)
    kept = choose_people(tracks, "all")
    assert len(kept) == 2  # the one seen twice is left out of --person all
    for n in kept:  # each found again after everyone left, and only themselves
        names = {who[id(d)] for d in tracks[n].detections}
        assert len(names) == 1 and len(tracks[n].frames) == 55
    assert len(tracks) == 3 and choose_people(tracks, [2]) == [2]  # asked for by number, the short one is there
    from engine.errors import BadInput

    with pytest.raises(BadInput, match="--person 5: only 3 person track"):
        choose_people(tracks, [0, 5])


def test_takes_of_several_people_carry_their_numbers_and_older_takes_still_load(tmp_path):
    from engine.errors import FormatError
    from engine.take import read_take, write_take

    base = {"fps": 30.0, "image_size": np.array([1920, 1080]), "joints2d": np.zeros((4, 33, 3), np.float32),
            "valid": np.array([True, True, False, False])}  # seen in two frames, then gone: gaps marked
    write_take(tmp_path / "p2.npz", {**base, "person": np.int32(2), "people": np.array([0, 2], np.int32)})
    t = read_take(tmp_path / "p2.npz")
    assert t["format_version"] == "1.2" and int(t["person"]) == 2 and t["people"].tolist() == [0, 2]
    np.savez(tmp_path / "old.npz", format_version=np.asarray("1.1"), **base)
    assert "people" not in read_take(tmp_path / "old.npz")
    np.savez(tmp_path / "bad.npz", format_version=np.asarray("1.2"), people=np.zeros((2, 2), np.int32), **base)
    with pytest.raises(FormatError, match="people"):
        read_take(tmp_path / "bad.npz")


def report() -> None:
    """Identity swaps and share of sightings with the right person, every salsa take, four directions."""
    rows = []
    for n in [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]:
        lead, follow, fps = couple(n)
        for azimuth in (0, 45, 90, 135):
            cross = crossings([lead, follow], fps, azimuth)
            both = score_tracking(*sightings([lead, follow], fps, azimuth, seed=azimuth), fps, 2)
            motion = score_tracking(*sightings([lead, follow], fps, azimuth, seed=azimuth, colours=False), fps, 2)
            rows.append((n, azimuth, cross, *both, *motion))
            print(f"salsa {n:02d} azimuth {azimuth:3d}: crossings {cross:2d}  motion+colour: swaps {both[0]} "
                  f"right {both[1]:.3f}  motion only: swaps {motion[0]} right {motion[1]:.3f}", flush=True)
    r = np.array(rows, float)
    print(f"all {len(rows)} runs: crossings {int(r[:, 2].sum())}; motion+colour: swaps {int(r[:, 3].sum())}, "
          f"right {r[:, 4].mean():.4f}; motion only: swaps {int(r[:, 5].sum())}, right {r[:, 6].mean():.4f}")


if __name__ == "__main__":
    report()
