import os
import sys

# Idle OpenMP threads sleep instead of spinning: on a busy 2-core machine spinning threads starve the
# decoder thread and each other (measured: torch batch-1 landmarks 25 -> 105 frames/s under load).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .cli import main  # noqa: E402

sys.exit(main())
