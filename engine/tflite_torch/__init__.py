"""Run TFLite graphs (BlazePose detector and landmarks) as torch modules, on CPU or CUDA, batched.

`build_module(path)` reads the flatbuffer and returns a TFLiteModule; `litert_runner.LiteRTModel` runs the
same file with Google's LiteRT runtime, the reference the tests compare against. torch is imported on
first use of the torch names, so the LiteRT runner and the reader work without it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SUPPORTED_OPS", "TFLiteModule", "build_module"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import module

        return getattr(module, name)
    raise AttributeError(name)
