"""The real-window tests import their helpers from this folder and the engine from the repository root
(pytest runs in importlib mode, which puts neither on sys.path)."""

import sys
from pathlib import Path

for _path in (Path(__file__).resolve().parents[2], Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
