import os
import signal
import sys


def _interrupted_while_loading(signum, frame):
    # before the command runs nothing has been written: leave in one line, no traceback
    sys.stderr.write("error: interrupted\n")
    os._exit(128 + signum)


signal.signal(signal.SIGINT, _interrupted_while_loading)
signal.signal(signal.SIGTERM, _interrupted_while_loading)

# the command is the first word that is not an option (`--debug` may come before it)
if next((a for a in sys.argv[1:] if not a.startswith("-")), None) == "lifter":
    # Training and evaluation interleave numpy batch synthesis with torch on the same cores. OpenBLAS's own
    # threads then fight torch's OpenMP threads: one BLAS thread and spinning OpenMP threads took a training
    # step from 161 to 106 ms (384 channels, 16 windows, 2-core CPU).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
else:
    # Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning threads starve the
    # decoder thread and each other (measured: torch batch-1 landmarks 25 -> 105 frames/s under load).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
if "--debug" not in sys.argv[1:]:
    # the native libraries' own log lines (read when they load); the capture also keeps fd 2 for itself
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ORT_LOGGING_LEVEL", "3")

from .cli import main  # noqa: E402

signal.signal(signal.SIGINT, signal.default_int_handler)  # the command installs its own (cli.interruptible)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
code = main()
if code >= 128:
    # Interrupted: everything the run started is removed already. Leave without running the native libraries'
    # static destructors while their worker threads may still be inside a call: that race is what aborted
    # Ctrl-C with "terminate called without an active exception" (exit -6).
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
sys.exit(code)
