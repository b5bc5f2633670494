"""Import the add-on from a folder of its files under its installed name, without installing it.

Used by the tools that run under a Blender venv and by the Blender tests (the repository folder is not
named `monocap`, so a plain import cannot find it).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def load_addon(root: Path = ROOT, name: str = "monocap") -> ModuleType:
    """Import the add-on package at `root` as `name` and return it (registered in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
