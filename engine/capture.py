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


def run_capture(video: str, out: str, device: str = "auto", person: int | None = None,
                start: float | None = None, end: float | None = None, overlay: str | None = None,
                bvh: str | None = None, vmd: str | None = None, rig: str | None = None,
                backend: str = "auto", models_dir: str | None = None,
                progress: Progress | None = None, lift: bool = True, fix_swaps: bool = True,
                fps: float | None = None, threads: int | None = None, report: dict | None = None,
                nets_cache: dict | None = None) -> dict:
    """Capture a take from `video` and write it to `out`. Returns the take dict.

    fix_swaps: undo the detector's left/right swaps (`detector.swaps`) before the 2D is kept and lifted; the
    take's `swapped` records the frames changed (all 0 when False). The overlay, when asked for, is drawn
    afterwards from the take's 2D in a pass of its own over the frames.
    fps: the video's frame rate, overriding what the file says (`video.probe`).
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
    outputs = {"take": out, "overlay": overlay, "BVH": bvh, "VMD": vmd}
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
        return _capture(video, out, device, person, overlay, bvh, vmd, rig, backend, progress, lift, fix_swaps,
                        info, first, stop, paths, threads, report if report is not None else {}, nets_cache)


def _capture(video, out, device, person, overlay, bvh, vmd, rig, backend, progress, lift, fix_swaps, info, first,
             stop, paths, threads, report, nets_cache) -> dict:
    from .detector.backends import PoseNets
    from .detector.capture2d import capture_2d
    from .detector.swaps import exchange_sides, undo_swaps
    from .overlay import draw_take_frames

    key = (str(paths["pose_detection"]), str(paths["pose_landmark_full"]), device, backend, threads)
    nets = nets_cache.get(key) if nets_cache is not None else None
    if nets is None:
        nets = PoseNets(paths["pose_detection"], paths["pose_landmark_full"], device=device, backend=backend,
                        threads=threads)
        if nets_cache is not None:
            nets_cache[key] = nets
    progress.info(f"video {Path(video).name}: {info.width}x{info.height}, {info.fps:g} fps, "
                  f"frames {first}..{stop - 1}; networks: {nets.name}")

    writer = OverlayWriter(overlay, info.fps, (info.width, info.height)) if overlay else None  # fails early
    try:
        cap = capture_2d(nets, info, first, stop, person, progress=progress, warn=progress.warning)
        # the detector's left/right swaps undone before anything looks at the 2D: the take, the overlay and
        # the lift all see the corrected assignment
        if fix_swaps:
            joints2d, swapped = undo_swaps(cap.joints2d, cap.valid)
            presence = exchange_sides(cap.presence, swapped)
        else:
            joints2d, swapped, presence = cap.joints2d, np.zeros(len(cap.valid), np.uint8), cap.presence
        if swapped.any():
            progress.info(f"left/right swaps of the 2D undone in {int(np.count_nonzero(swapped))} frame(s)")
        if writer is not None:
            draw_take_frames(writer, info, cap.first_frame, joints2d, cap.valid, swapped, progress=progress,
                             warn=progress.warning)
    except BaseException:
        if writer is not None:
            writer.close(keep=False)
        raise
    if writer is not None:
        writer.close()
    take = {
        "fps": np.float64(info.fps),
        "image_size": np.array([info.width, info.height], np.int32),
        "joints2d": joints2d,
        "valid": cap.valid,
        "keypoint_presence": presence,
        "swapped": swapped,
        "first_frame": np.int32(cap.first_frame),
        "person": np.int32(cap.person),
        "source_video": np.str_(Path(video).name),
    }
    report["people"] = len(cap.tracks)
    progress.info(f"person {cap.person} of {len(cap.tracks)} track(s); "
                  f"seen in {int(cap.valid.sum())}/{len(cap.valid)} frames")
    if lift:
        from .motion.take3d import complete_take

        progress("lift", 0, 1)
        take.update(complete_take(joints2d, cap.valid, (info.width, info.height), info.fps))
        progress("lift", 1, 1)
    if bvh:
        from .formats.bvh import write_bvh

        write_bvh(bvh, take["joint_names"], take["parents"], take["rest_offsets"], take["rotations"],
                  take["joints3d"][:, 0], info.fps)
    if vmd:
        from .rig.retarget import write_take_vmd

        for warning in write_take_vmd(take, rig, vmd):
            progress.warning(warning)
    write_take(out, take)
    return take
