"""The engine's command line: `python -m engine capture|lift|models|bench|lifter ...`.

Exit codes: 0 success, 2 bad input (the user can fix it), 1 internal error or missing models, 130 interrupted
(SIGINT, Ctrl-C), 143 terminated (SIGTERM, what the add-on's Esc sends); `batch` also exits 3 when some of its
videos failed. An interrupted capture leaves no output and no temporary file behind.
Errors are one line; the native libraries' own stderr lines (FFmpeg, OpenCV, LiteRT, ONNX Runtime) are kept
off the user's stderr during a capture; `--debug` shows them and the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Iterator

from .errors import BadInput, FormatError, MonocapError
from .progress import Progress


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by SIGINT or SIGTERM (once: a second signal during the clean-up is ignored)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_INTERRUPT_WORDS = {signal.SIGINT: "interrupted (Ctrl-C)", signal.SIGTERM: "terminated"}


@contextlib.contextmanager
def interruptible() -> Iterator[list[int]]:
    """SIGINT and SIGTERM become `Interrupted` in the main thread, so `finally` blocks and the atomic writers
    remove what the run started; the default handlers come back afterwards. Append anything to the yielded
    list once the outputs are written: a signal after that is ignored (the run is as good as finished)."""
    fired: list[int] = []

    def handler(signum, frame):
        if fired:
            return
        fired.append(signum)
        raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in _INTERRUPT_WORDS}
    try:
        yield fired
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Point file descriptor 2 at /dev/null, where the native libraries write their chatter, while Python's
    sys.stderr (our progress and the one-line error) keeps writing to the real stderr."""
    if not enabled:
        yield
        return
    old = sys.stderr
    try:
        old.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded, redirected in tests)
        yield
        return
    os.dup2(null, 2)
    os.close(null)
    sys.stderr = open(saved, "w", buffering=1, encoding=getattr(old, "encoding", None) or "utf-8",
                      errors="backslashreplace", closefd=False)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr = old


def _person(value: str) -> int | str | list[int] | None:
    if value == "auto":
        return None
    if value == "all":
        return "all"
    try:
        numbers = [int(v) for v in value.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("use auto, all, a track number or numbers like 0,2 "
                                         "(0 = most prominent)") from None
    if any(n < 0 for n in numbers):
        raise argparse.ArgumentTypeError("track numbers start at 0")
    numbers = list(dict.fromkeys(numbers))
    return numbers[0] if len(numbers) == 1 else numbers


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors through the progress protocol too (exit code 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if "--progress" in sys.argv and "jsonl" in sys.argv:
            Progress("jsonl").error(message, "bad_input")
        else:
            self.print_usage(sys.stderr)
            sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def capture_options() -> argparse.ArgumentParser:
    """The options that say how a video is captured, shared by `capture` and `batch` (argparse parent), so
    an option added here applies to both; `capture_kwargs` turns them into `run_capture`'s arguments."""
    c = argparse.ArgumentParser(add_help=False)
    c.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="where the networks run; auto takes CUDA when torch sees a GPU (default auto)")
    c.add_argument("--backend", default="auto", choices=["auto", "torch", "litert", "onnx"],
                   help="network runtime; auto, on the CPU: the detector on LiteRT and the landmarks on ONNX "
                        "Runtime where installed, else torch (default auto)")
    c.add_argument("--person", type=_person, default=None, metavar="auto|all|N|N,M",
                   help="whom to capture: auto = the most prominent person over the clip, N = track N "
                        "(tracks are numbered by prominence; the log lists them); all = everyone, N,M = "
                        "those people: one take each, OUTPUT's name with _pN (TAKE_p0.npz ...), in one "
                        "world frame, with --bvh/--vmd likewise")
    c.add_argument("--start", type=float, default=None, metavar="SECONDS", help="start time in seconds")
    c.add_argument("--end", type=float, default=None, metavar="SECONDS", help="end time in seconds")
    c.add_argument("--fps", type=float, default=None, metavar="RATE",
                   help="the video's real frame rate, when the file's is wrong or missing (default: from the file; "
                        "a variable or implausible rate is reported)")
    c.add_argument("--rig", default=None, metavar="MODEL.pmx", help="the PMX model the VMD is made for")
    c.add_argument("--no-lift", action="store_true", help="stop after 2D (the take holds no 3D fields)")
    c.add_argument("--hands", action=argparse.BooleanOptionalAction, default=None,
                   help="capture both hands' 21 keypoints (default: when the hands span at least 24 px)")
    c.add_argument("--models-dir", default=None, help="model cache (default: $MONOCAP_MODELS_DIR or the user cache)")
    return c


# dests of capture_options() that do not change what a capture produces (left out of the batch's options hash)
CAPTURE_OPTIONS_NOT_IN_RESULT = ("models_dir",)


def capture_kwargs(args: argparse.Namespace) -> dict:
    """`run_capture` keyword arguments from the parsed capture_options() (outputs not included)."""
    return dict(device=args.device, person=args.person, start=args.start, end=args.end, rig=args.rig,
                backend=args.backend, models_dir=args.models_dir, lift=not args.no_lift, fps=args.fps,
                hands=args.hands)


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("give a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError("give 1 or more")
    return n


BATCH_DESCRIPTION = """Capture every video of INPUTS into DIR: one result folder per video (its name from the
video's path), a manifest DIR/manifest.jsonl with one row per finished video, and a summary.

Running the same command again skips the videos already done with the same options and retries the failed
ones. Every capture option applies to every video.

exit codes: 0 every video done (or done before), 3 some videos failed (their reasons are in the manifest),
2 bad arguments (nothing found, --out unusable, another batch running on DIR), 1 internal error,
130/143 interrupted (the videos in flight are lost; run again to resume)."""


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m engine", description="Monocap engine: video to 3D animation.")
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    opts = capture_options()
    c = sub.add_parser("capture", help="capture a take from a video", parents=[opts],
                       description="Detect the person in VIDEO, lift to 3D and write a take (.npz).")
    c.add_argument("video", help="input video file (anything OpenCV/FFmpeg decodes)")
    c.add_argument("-o", "--output", required=True, help="take file to write (.npz)")
    c.add_argument("--overlay", default=None, metavar="OUT.mp4", help="also write the video with the 2D skeleton")
    c.add_argument("--bvh", default=None, metavar="OUT.bvh", help="also write the motion as BVH")
    c.add_argument("--vmd", default=None, metavar="OUT.vmd", help="also write an MMD motion for the rig --rig")
    c.add_argument("--progress", default="text", choices=["text", "jsonl", "none"],
                   help="progress on stderr as text, or JSON lines on stdout (the add-on's protocol)")

    lt = sub.add_parser("lift", help="lift 2D takes to 3D again (after the 2D was edited)",
                        description="Lift the 2D of TAKE (written by capture, with or without --no-lift) to 3D "
                                    "as capture does, without the video. Several takes of one video are lifted "
                                    "in one world frame; then -o is a folder and each keeps its file name.")
    lt.add_argument("takes", nargs="+", metavar="TAKE.npz", help="2D take(s) of one video")
    lt.add_argument("-o", "--output", required=True, help="the 3D take to write (a folder for several takes)")
    lt.add_argument("--progress", default="text", choices=["text", "jsonl", "none"],
                    help="progress on stderr as text, or JSON lines on stdout")

    bt = sub.add_parser("batch", help="capture a library of videos (resumable; local workers or Ray)",
                        parents=[opts], description=BATCH_DESCRIPTION,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    bt.add_argument("inputs", nargs="*", metavar="INPUT",
                    help="a video file, a folder (searched for videos, sub-folders included) or a text file "
                         "listing one path per line (.txt/.lst/.list; # comments; relative to the list's folder)")
    bt.add_argument("--out", required=True, metavar="DIR",
                    help="where every video's result folder and the manifest (manifest.jsonl) go")
    bt.add_argument("--overlay", action="store_true", help="also write each video with its 2D skeleton")
    bt.add_argument("--bvh", action="store_true", help="also write each motion as BVH")
    bt.add_argument("--vmd", action="store_true", help="also write each motion as VMD for the rig --rig")
    bt.add_argument("--workers", type=_positive, default=None, metavar="N",
                    help="local worker processes (default: the cores divided by --threads, at least 1)")
    bt.add_argument("--threads", type=_positive, default=None, metavar="T",
                    help="inference threads per video (default 1; the decoder has a thread of its own)")
    bt.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                    help="run one Ray task per video: alone, on a Ray instance started here; with ADDRESS "
                         "(host:port of a head node, or 'auto'), on that cluster (pip install -r "
                         "engine/requirements-ray.txt)")
    bt.add_argument("--progress", default="text", choices=["text", "none"],
                    help="library progress and one line per finished video on stderr (default text)")

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
            from .capture import person_paths, run_capture

            with interruptible() as finished, native_stderr_silenced(not args.debug):
                try:
                    takes = run_capture(args.video, args.output, overlay=args.overlay, bvh=args.bvh, vmd=args.vmd,
                                        progress=progress, **capture_kwargs(args))
                    finished.append(0)
                    if takes[0].get("people") is not None:  # one take per person: each named; the first is the result
                        paths = list(person_paths(args.output, [int(t["person"]) for t in takes]).values())
                        for path in paths[1:]:
                            progress.info(f"wrote {path}")
                        progress.result(paths[0])
                    else:
                        progress.result(args.output)
                    return 0
                except KeyboardInterrupt as exc:  # reported here, while our stderr is still the user's
                    signum = getattr(exc, "signum", signal.SIGINT)
                    progress.error(f"{_INTERRUPT_WORDS[signum]}: nothing was written", "interrupted")
                    return 128 + signum
                except BaseException as exc:
                    return _report(exc, args, progress)
        if args.command == "lift":
            from .lift import run_lift

            with interruptible() as finished:
                for path in run_lift(args.takes, args.output, progress):
                    progress.info(f"wrote {path}")
                finished.append(0)
                progress.result(args.output)
            return 0
        if args.command == "batch":
            from .batch.run import run_batch

            with interruptible():
                return run_batch(args)
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
                from .profiles import require_torch

                require_torch("lifter train")
                from .lifter.train import main as train_main

                return train_main(args.rest)
            if args.lifter_command == "combine":
                from .lifter.members import main as combine_main

                return combine_main(args.rest)
            from .lifter.evaluate import main as eval_main

            return eval_main(args.rest)
    except BaseException as exc:
        return _report(exc, args, progress)
    return 1


def _report(exc: BaseException, args: argparse.Namespace, progress: Progress) -> int:
    """One line for the user (the traceback with --debug) and the exit code."""
    if isinstance(exc, SystemExit):
        raise exc
    if isinstance(exc, KeyboardInterrupt):
        signum = getattr(exc, "signum", signal.SIGINT)
        progress.error(_INTERRUPT_WORDS[signum], "interrupted")
        return 128 + signum
    if isinstance(exc, (BadInput, FormatError)):
        progress.error(str(exc), exc.kind)
        code = 2
    elif isinstance(exc, MonocapError):
        progress.error(str(exc), exc.kind)
        code = 1
    elif isinstance(exc, MemoryError):
        progress.error("out of memory (try a shorter --start/--end range)", "internal")
        code = 1
    elif isinstance(exc, Exception):  # an engine bug: one line for the user, the traceback with --debug
        progress.error(f"internal error: {type(exc).__name__}: {exc}", "internal")
        code = 1
    else:
        raise exc
    if args.debug:
        traceback.print_exception(exc)
    return code
