import os
import sys

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

from .cli import main  # noqa: E402

sys.exit(main())
