"""The engine's command line: `python -m engine capture|models|bench|lifter ...`.

Exit codes: 0 success, 2 bad input (the user can fix it), 1 internal error or missing models.
Errors are one line; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback

from .errors import BadInput, FormatError, MonocapError
from .progress import Progress


def _person(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("use auto or a track number (0 = most prominent)") from None
    if n < 0:
        raise argparse.ArgumentTypeError("track numbers start at 0")
    return n


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors through the progress protocol too (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "--progress" in sys.argv and "jsonl" in sys.argv:
            Progress("jsonl").error(message, "bad_input")
        else:
            self.print_usage(sys.stderr)
            sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m engine", description="Monocap engine: video to 3D animation.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("capture", help="capture a take from a video",
                       description="Detect the person in VIDEO, lift to 3D and write a take (.npz).")
    c.add_argument("video", help="input video file (anything OpenCV/FFmpeg decodes)")
    c.add_argument("-o", "--output", required=True, help="take file to write (.npz)")
    c.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where the networks run; auto takes CUDA when torch sees a GPU (default auto)")
    c.add_argument("--backend", default="auto", choices=["auto", "torch", "litert", "onnx"],
                   help="network runtime; auto, on the CPU: the detector on LiteRT and the landmarks on ONNX "
                        "Runtime where installed, else torch (default auto)")
    c.add_argument("--person", type=_person, default=None, metavar="auto|N",
                   help="whom to follow: auto = the most prominent person over the clip, N = track N "
                        "(tracks are numbered by prominence; the log lists them)")
    c.add_argument("--start", type=float, default=None, metavar="SECONDS", help="start time in seconds")
    c.add_argument("--end", type=float, default=None, metavar="SECONDS", help="end time in seconds")
    c.add_argument("--overlay", default=None, metavar="OUT.mp4", help="also write the video with the 2D skeleton")
    c.add_argument("--bvh", default=None, metavar="OUT.bvh", help="also write the motion as BVH")
    c.add_argument("--vmd", default=None, metavar="OUT.vmd", help="also write an MMD motion for the rig --rig")
    c.add_argument("--rig", default=None, metavar="MODEL.pmx", help="the PMX model the VMD is made for")
    c.add_argument("--no-lift", action="store_true", help="stop after 2D (the take holds no 3D fields)")
    c.add_argument("--models-dir", default=None, help="model cache (default: $MONOCAP_MODELS_DIR or the user cache)")
    c.add_argument("--progress", default="text", choices=["text", "jsonl", "none"],
                   help="progress on stderr as text, or JSON lines on stdout (the add-on's protocol)")

    m = sub.add_parser("models", help="manage model files")
    msub = m.add_subparsers(dest="models_command", required=True, parser_class=_Parser)
    f = msub.add_parser("fetch", help="download the BlazePose models into the cache (idempotent)")
    f.add_argument("--models-dir", default=None, help="model cache folder")
    msub.add_parser("path", help="print the model cache folder")

    b = sub.add_parser("bench", help="measure speed and memory of every stage")
    b.add_argument("--only", default=None, help="comma-separated bench names (default: all)")
    b.add_argument("--json", default=None, metavar="OUT.json", help="also write the rows as JSON")

    lf = sub.add_parser("lifter", help="train, combine or evaluate the 2D-to-3D lifter", add_help=False)
    lf.add_argument("lifter_command", choices=["train", "combine", "eval"])
    lf.add_argument("rest", nargs=argparse.REMAINDER)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    progress = Progress(getattr(args, "progress", "text"))
    try:
        if args.command == "capture":
            from .capture import run_capture

            run_capture(args.video, args.output, device=args.device, person=args.person, start=args.start,
                        end=args.end, overlay=args.overlay, bvh=args.bvh, vmd=args.vmd, rig=args.rig,
                        backend=args.backend,
                        models_dir=args.models_dir, progress=progress, lift=not args.no_lift)
            progress.result(args.output)
            return 0
        if args.command == "models":
            from .models import fetch_models, models_dir

            if args.models_command == "path":
                print(models_dir())
                return 0
            paths = fetch_models(args.models_dir, progress=progress)
            for name, path in paths.items():
                print(f"{name}: {path}")
            return 0
        if args.command == "bench":
            from .bench import run_bench

            return run_bench(args.only.split(",") if args.only else None, args.json)
        if args.command == "lifter":
            if args.lifter_command == "train":
                from .lifter.train import main as train_main

                return train_main(args.rest)
            if args.lifter_command == "combine":
                from .lifter.members import main as combine_main

                return combine_main(args.rest)
            from .lifter.evaluate import main as eval_main

            return eval_main(args.rest)
    except (BadInput, FormatError) as exc:
        progress.error(str(exc), exc.kind)
        if args.debug:
            traceback.print_exc()
        return 2
    except MonocapError as exc:
        progress.error(str(exc), exc.kind)
        if args.debug:
            traceback.print_exc()
        return 1
    except KeyboardInterrupt:
        progress.error("interrupted", "interrupted")
        return 1
    except Exception as exc:  # an engine bug: one line for the user, the traceback with --debug
        progress.error(f"internal error: {type(exc).__name__}: {exc}", "internal")
        if args.debug:
            traceback.print_exc()
        return 1
    return 1
