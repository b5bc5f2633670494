"""`engine capture`: video -> take file (2D keypoints, then 3D joints and rotations), optional overlay and BVH."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import BadInput
from .fileio import check_output, staged_outputs
from .progress import Progress
from .take import write_take
from .video import OverlayWriter, probe


def frame_range(fps: float, frame_count: int, start: float | None, end: float | None) -> tuple[int, int]:
    """Seconds (as given on the command line) to a frame range [first, last+1) inside the video."""
    first = 0 if start is None else int(math.floor(start * fps + 1e-6))
    stop = frame_count if end is None else int(math.ceil(end * fps - 1e-6))
    duration = frame_count / fps
    if start is not None and (start < 0 or first >= frame_count):
        raise BadInput(f"--start {start:g}s is outside the video (0 to {duration:.2f}s)")
    if end is not None and end <= (start or 0):
        raise BadInput(f"--end {end:g}s must be after --start {start or 0:g}s")
    return first, min(stop, frame_count)


def person_paths(path: str | None, numbers: list[int] | None) -> dict[int, str | None]:
    """Where each person's output goes: the path itself for one person (numbers None: `--person auto` or N),
    else STEM_pN.SUFFIX beside it, one per person."""
    if numbers is None:
        return {-1: path}
    if path is None:
        return {n: None for n in numbers}
    p = Path(path)
    return {n: str(p.with_name(f"{p.stem}_p{n}{p.suffix}")) for n in numbers}


def run_capture(video: str, out: str, device: str = "auto", person: int | str | list[int] | None = None,
                start: float | None = None, end: float | None = None, overlay: str | None = None,
                bvh: str | None = None, vmd: str | None = None, rig: str | None = None,
                backend: str = "auto", models_dir: str | None = None,
                progress: Progress | None = None, lift: bool = True, fix_swaps: bool = True,
                fps: float | None = None, hands: bool | None = None, threads: int | None = None,
                report: dict | None = None, nets_cache: dict | None = None) -> list[dict]:
    """Capture takes from `video` and write them. Returns the take dicts, one per person.

    person: None (auto: the most prominent person) or N: one take, written to `out` (and `bvh`, `vmd`);
    "all" or a list of numbers: one take per person, each written beside `out` as STEM_pN.npz (and
    STEM_pN.bvh, STEM_pN.vmd), all in one world frame; the overlay (one video) shows everyone.
    fix_swaps: undo the detector's left/right swaps (`detector.swaps`) before the 2D is kept and lifted; the
    take's `swapped` records the frames changed (all 0 when False). The overlay, when asked for, is drawn
    afterwards from the takes' 2D in a pass of its own over the frames.
    fps: the video's frame rate, overriding what the file says (`video.probe`).
    hands: capture both hands' 21 keypoints of every person captured (`detector.hands`); None (auto) does when
    the hands are large enough in the frame to be seen (`detector.hands.MIN_HAND_PIXELS`).
    threads: inference threads of the networks on the CPU (default: the cores less one, for the decoder).
    report: when given, filled with what the take does not record: "people" (the tracks found).
    nets_cache: when given, the networks are kept there and used again by the next capture with the same
    models, device, backend and threads (loading them costs seconds: the batch's workers keep one dict).

    Every output path is checked before the video is opened (BadInput, nothing written), and the outputs are
    written together at the end (`fileio.staged_outputs`): an error or a signal leaves none of them and no
    temporary file, and the user's existing files as they were."""
    progress = progress or Progress("none")
    if (vmd is None) != (rig is None):
        raise BadInput("--vmd and --rig go together: the VMD is made for the PMX model given by --rig")
    if rig is not None and not Path(rig).is_file():
        raise BadInput(f"rig not found: {rig}")
    if not lift and (bvh or vmd):
        raise BadInput("--bvh and --vmd need the 3D lift; drop --no-lift")
    several = person == "all" or isinstance(person, list)
    # the names known now are checked now; with "all", the folder (through `out`) and each name at the end
    known = list(person) if isinstance(person, list) else None
    outputs: dict[str, str | None] = {"overlay": overlay}
    for what, path in (("take", out), ("BVH", bvh), ("VMD", vmd)):
        if several and known is not None:
            outputs.update({f"{what} of person {n}": p for n, p in person_paths(path, known).items()})
        else:
            outputs[what] = path
    named = [(what, Path(p)) for what, p in outputs.items() if p]
    for what, p in named:
        check_output(p, what)
    for k, (what, p) in enumerate(named):
        same = next((w for w, q in named[:k] if q.resolve() == p.resolve()), None)
        if same:
            raise BadInput(f"the {what} and the {same} would both be written to {p}; give them different names")
        if Path(video).resolve() == p.resolve() or (rig and Path(rig).resolve() == p.resolve()):
            raise BadInput(f"the {what} output {p} is an input of this run; give another name")
    from .models import ensure_models

    info = probe(video, fps)
    for warning in info.warnings:
        progress.warning(warning)
    first, stop = frame_range(info.fps, info.frame_count, start, end)
    paths = ensure_models(models_dir, progress=progress)
    with staged_outputs():
        return _capture(video, out, device, person, several, overlay, bvh, vmd, rig, backend, progress, lift,
                        fix_swaps, info, first, stop, paths, hands, threads,
                        report if report is not None else {}, nets_cache if nets_cache is not None else {})


def _capture(video, out, device, person, several, overlay, bvh, vmd, rig, backend, progress, lift, fix_swaps,
             info, first, stop, paths, hands, threads, report, nets_cache) -> list[dict]:
    from .detector.backends import PoseNets
    from .detector.capture2d import capture_2d
    from .detector.swaps import exchange_sides, undo_swaps
    from .overlay import draw_take_frames

    key = (str(paths["pose_detection"]), str(paths["pose_landmark_full"]), device, backend, threads)
    if key not in nets_cache:
        nets_cache[key] = PoseNets(paths["pose_detection"], paths["pose_landmark_full"], device=device,
                                   backend=backend, threads=threads)
    nets = nets_cache[key]
    progress.info(f"video {Path(video).name}: {info.width}x{info.height}, {info.fps:g} fps, "
                  f"frames {first}..{stop - 1}; networks: {nets.name}")

    writer = OverlayWriter(overlay, info.fps, (info.width, info.height)) if overlay else None  # fails early
    takes = []
    try:
        cap = capture_2d(nets, info, first, stop, person, progress=progress, warn=progress.warning)
        numbers = [p.number for p in cap.people]
        report["people"] = len(cap.tracks)
        for p in cap.people:
            # the detector's left/right swaps undone before anything looks at the 2D: the take, the overlay
            # and the lift all see the corrected assignment
            if fix_swaps:
                joints2d, swapped = undo_swaps(p.joints2d, p.valid)
                presence = exchange_sides(p.presence, swapped)
            else:
                joints2d, swapped, presence = p.joints2d, np.zeros(len(p.valid), np.uint8), p.presence
            if swapped.any():
                progress.info(f"person {p.number}: left/right swaps of the 2D undone in "
                              f"{int(np.count_nonzero(swapped))} frame(s)")
            takes.append({
                "fps": np.float64(info.fps),
                "image_size": np.array([info.width, info.height], np.int32),
                "joints2d": joints2d,
                "valid": p.valid,
                "keypoint_presence": presence,
                "swapped": swapped,
                "first_frame": np.int32(cap.first_frame),
                "person": np.int32(p.number),
                "people": np.array(numbers, np.int32) if several else None,  # None: not written
                "source_video": np.str_(Path(video).name),
            })
            progress.info(f"person {p.number} of {len(cap.tracks)} track(s); "
                          f"seen in {int(p.valid.sum())}/{len(p.valid)} frames")
        _capture_hands(takes, hands, paths, device, info, cap.first_frame, progress, nets_cache)
        if writer is not None:
            draw_take_frames(writer, info, cap.first_frame, [t["joints2d"] for t in takes],
                             [t["valid"] for t in takes], [t["swapped"] for t in takes], numbers=numbers,
                             hands=[(t["hands2d"], t["hands_valid"]) for t in takes] if "hands2d" in takes[0]
                             else None, progress=progress, warn=progress.warning)
    except BaseException:
        if writer is not None:
            writer.close(keep=False)
        raise
    if writer is not None:
        writer.close()
    if lift:
        lift_takes(takes, progress)
    if not several:
        numbers = None
    outs, bvhs, vmds = (person_paths(x, numbers) for x in (out, bvh, vmd))
    for take, target, bvh_target, vmd_target in zip(takes, outs.values(), bvhs.values(), vmds.values()):
        if several:  # the names of `--person all` are known only now
            for what, p in (("take", target), ("BVH", bvh_target), ("VMD", vmd_target)):
                if p:
                    check_output(p, what)
        if bvh_target:
            from .formats.bvh import write_bvh

            write_bvh(bvh_target, take["joint_names"], take["parents"], take["rest_offsets"], take["rotations"],
                      take["joints3d"][:, 0], info.fps)
        if vmd_target:
            from .rig.retarget import write_take_vmd

            for warning in write_take_vmd(take, rig, vmd_target):
                progress.warning(warning)
        write_take(target, take)
    return takes


def lift_takes(takes: list[dict], progress: Progress | None = None) -> None:
    """Add the 3D fields to 2D takes of one video (one camera), in place: everyone in one world frame, placed
    from the first take's person (`motion.take3d.complete_takes`)."""
    from .motion.take3d import complete_takes

    progress = progress or Progress("none")
    ref = takes[0]
    for t in takes[1:]:
        if (len(t["valid"]) != len(ref["valid"]) or float(t["fps"]) != float(ref["fps"])
                or tuple(t["image_size"]) != tuple(ref["image_size"])):
            raise BadInput("takes lifted together must come from one video: the same frames, frame rate and size")
    lifted = [t for t in takes if np.asarray(t["valid"]).any()]
    if not lifted:
        raise BadInput("no frame with a detected person: nothing to lift")
    size = tuple(int(x) for x in ref["image_size"])
    fps = float(ref["fps"])
    progress("lift", 0, 1)
    bodies, camera_rotation = complete_takes([(t["joints2d"], t["valid"]) for t in lifted], size, fps,
                                             with_camera=True)
    for t, fields in zip(lifted, bodies):
        t.update(fields)
        if "hands3d" in t:
            _add_fingers(t, camera_rotation, fps, progress)
    progress("lift", 1, 1)


def _add_fingers(take: dict, camera_rotation: np.ndarray, fps: float, progress: Progress) -> None:
    """The finger joints solved from the take's hand points (`motion.fingers`), in place, and a line per hand
    on what the solve had to correct."""
    from .motion.fingers import finger_fields

    fields, report = finger_fields(take, take["hands3d"], take["hands_valid"], camera_rotation, fps)
    take.update(fields)
    for side, r in report.items():
        if r["frames"]:
            progress.info(f"person {int(take.get('person', 0))}, fingers {side}: depth mirrored in {r['mirrored']} "
                          f"of {r['frames']} frames; {100 * r['clamped_share']:.1f} % of the measured finger "
                          f"directions moved over 10 deg to within anatomical limits "
                          f"(at most {r['clamped_max_deg']:.0f} deg)")


def _capture_hands(takes: list[dict], hands: bool | None, paths, device, info, first: int,
                   progress: Progress, nets_cache: dict) -> None:
    """Add the hand fields to the 2D takes, in place (nothing when hands are off or too small in the frame),
    everyone's hands in one pass over the frames; one line per person on how much of the clip had them."""
    from .detector import hands as hd

    bodies = [(t["joints2d"], np.asarray(t["valid"], bool)) for t in takes]
    if hands is None:
        size = hd.hand_size_pixels(np.concatenate([b for b, _ in bodies]), np.concatenate([v for _, v in bodies]))
        hands = size >= hd.MIN_HAND_PIXELS
        if not hands:
            progress.info(f"hands not captured: about {size:.0f} px in the frame, below the "
                          f"{hd.MIN_HAND_PIXELS} px they need to be seen (--hands captures them anyway)")
    if not hands:
        return
    key = (str(paths["hand_landmark_full"]), device, "hands")
    if key not in nets_cache:
        nets_cache[key] = hd.HandNets(paths["hand_recrop"], paths["hand_landmark_full"],
                                      paths["palm_detection_full"], device=device)
    nets = nets_cache[key]
    for take, track in zip(takes, hd.capture_hands(nets, info, first, bodies, progress=progress)):
        take.update({"hands2d": track.points2d, "hands_valid": track.valid, "hands3d": track.points3d})
        seen = track.valid.mean(axis=0) if track.valid.size else np.zeros(2)
        progress.info(f"person {int(take['person'])}: hands seen in {100 * seen[0]:.0f} % (left) and "
                      f"{100 * seen[1]:.0f} % (right) of the frames")
