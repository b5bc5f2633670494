"""`python -m engine batch`: the videos of INPUTS captured into DIR, resumable, one failure never stopping
the others. See cli.BATCH_DESCRIPTION for the exit codes and manifest.py for the manifest."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ..errors import BadInput
from .inputs import expand_inputs
from .job import Job, clear_stale, identity, options_hash, output_paths, result_folder
from .manifest import Manifest, latest_rows, row_key
from .report import LibraryProgress

EXIT_SOME_FAILED = 3
OUTPUT_KINDS = ("bvh", "vmd", "overlay")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def estimate_frames(video: str, start: float | None, end: float | None) -> int:
    """Frames the capture will see, from the container's header (0 when it cannot say)."""
    from ..video import quiet_native_logs

    quiet_native_logs()
    import cv2

    cap = cv2.VideoCapture(video)
    try:
        count, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    finally:
        cap.release()
    if not count or count < 0 or not fps or fps <= 0:
        return 0
    first = int((start or 0) * fps)
    stop = count if end is None else min(count, end * fps)
    return max(0, int(stop - first))


def default_sizes(workers: int | None, threads: int | None) -> tuple[int, int]:
    """Local workers and inference threads per video: a worker per core, one inference thread each (beside
    each video's decoding thread). On 2 cores, 4 copies of the sample: 2 workers 19.8 frames/s, 1 worker 16.3
    (`engine bench --only batch`, a loaded machine)."""
    threads = threads or 1
    return workers or max(1, (os.cpu_count() or 1) // threads), threads


def _check_args(args: argparse.Namespace) -> None:
    if args.ray not in (None, "local", "auto") and Path(args.ray).exists():
        # `batch --ray videos/ --out DIR`: argparse gave the first input to --ray's optional ADDRESS
        args.inputs.insert(0, args.ray)
        args.ray = "local"
    if not args.inputs:
        raise BadInput("give the videos to capture: files, folders or list files")
    if args.vmd != (args.rig is not None):
        raise BadInput("--vmd and --rig go together: each VMD is made for the PMX model given by --rig")
    if args.rig is not None and not Path(args.rig).is_file():
        raise BadInput(f"rig not found: {args.rig}")
    if args.no_lift and (args.bvh or args.vmd):
        raise BadInput("--bvh and --vmd need the 3D lift; drop --no-lift")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file; give a folder")


def _options(args: argparse.Namespace) -> dict:
    """Everything that changes what is written for a video: the capture options (all of capture_options()'s
    but those CAPTURE_OPTIONS_NOT_IN_RESULT names), the outputs asked for and the rig's identity."""
    from ..cli import CAPTURE_OPTIONS_NOT_IN_RESULT, capture_options

    dests = [a.dest for a in capture_options()._actions if a.dest not in ("help", *CAPTURE_OPTIONS_NOT_IN_RESULT)]
    options = {d: getattr(args, d) for d in dests}
    options["outputs"] = [k for k in OUTPUT_KINDS if getattr(args, k)]
    if args.rig:
        options["rig"] = identity(Path(args.rig))
    return options


def run_batch(args: argparse.Namespace) -> int:
    from ..cli import capture_kwargs
    from ..models import ensure_models

    t0 = time.perf_counter()  # the summary's wall time: the whole command, Ray's start included
    _check_args(args)
    enabled = args.progress != "none"
    say = (lambda text: print(text, file=sys.stderr, flush=True)) if enabled else (lambda text: None)
    out_dir = Path(args.out).absolute()
    videos, warnings = expand_inputs(args.inputs, out_dir)
    for w in warnings:
        say(f"warning: {w}")
    options = _options(args)
    digest = options_hash(options)
    kinds = options["outputs"]
    workers, threads = default_sizes(args.workers, args.threads)
    kwargs = dict(capture_kwargs(args), threads=threads)
    if kwargs["rig"]:
        kwargs["rig"] = str(Path(kwargs["rig"]).absolute())
    models = ensure_models(args.models_dir)  # once here, not raced by the workers
    run_id = _now()

    with Manifest(out_dir) as manifest:
        latest = latest_rows(manifest.rows)
        jobs: list[Job] = []
        skipped: list[dict] = []
        for video in videos:
            key = dict(identity(video), options=digest)
            prev = latest.get(row_key(key))
            if (prev and prev.get("status") in ("done", "skipped")
                    and all((out_dir / rel).is_file() for rel in (prev.get("outputs") or {}).values())):
                skipped.append(prev)
                continue
            folder = result_folder(key["video"])
            clear_stale(out_dir / folder)
            jobs.append(Job(str(video), key, folder, output_paths(folder, Path(key["video"]).stem, kinds), kwargs,
                            estimate_frames(str(video), args.start, args.end)))

        runner = None  # started only when there is work (Ray takes seconds to start)
        if jobs and args.ray is not None:
            from .runner_ray import RayRunner

            runner = RayRunner(args.ray, threads, args.device, models, kwargs["rig"], quiet=not args.debug)
        elif jobs:
            from .runner_local import LocalRunner

            runner = LocalRunner(min(workers, len(jobs)), threads, quiet=not args.debug)
        for prev in skipped:  # once the runner is there: a batch that cannot start leaves no rows
            manifest.append(dict(prev, status="skipped", finished=_now(), run=run_id))
        before = len(skipped)
        say(f"batch: {len(videos)} video(s): {before} done before (skipped), {len(jobs)} to capture"
            + (f" on {runner.where}" if runner else "") + f"; results in {out_dir}")
        report = LibraryProgress(len(jobs), sum(j.frames_estimate for j in jobs), enabled)

        def on_result(job: Job, result: dict) -> None:
            row = dict(job.key, status=result["status"], error=result.get("error"), folder=job.folder)
            if result["status"] == "done":
                row.update(outputs=result["outputs"], frames=result["frames"], seconds=result["seconds"],
                           fps=result["fps"], valid_share=result["valid_share"], people=result["people"])
            else:
                row.update(outputs={}, seconds=result.get("seconds"))
                with contextlib.suppress(OSError):
                    (out_dir / job.folder).rmdir()  # only when empty: nothing of a failed video stays
            row.update(worker=result.get("worker"), finished=_now(), run=run_id)
            manifest.append(row)
            report.finished(Path(job.video).name, job.folder, row, job.frames_estimate)

        try:
            if runner is not None:
                report.tick()
                runner.run(jobs, str(out_dir), on_result, report.tick)
        except KeyboardInterrupt:
            report.close()
            ran = [r["status"] for r in manifest.rows if r.get("run") == run_id and r["status"] != "skipped"]
            say(f"batch stopped: {ran.count('done')} done and {ran.count('failed')} failed in this run are in the "
                "manifest; the videos in flight were dropped: run the same command again to go on")
            raise
        report.close()
        wall = time.perf_counter() - t0
    rate = report.frames_done / wall if wall > 0 else 0.0
    say(f"batch: {report.done} done, {report.failed} failed, {before} skipped (done before); "
        f"{report.frames_done} frames in {wall:.1f} s ({rate:.1f} frames/s); manifest {manifest.path}")
    return EXIT_SOME_FAILED if report.failed else 0
