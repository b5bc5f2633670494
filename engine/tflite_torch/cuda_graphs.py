"""Replay a TFLiteModule on CUDA through CUDA graphs, one graph per batch size.

Why: the BlazePose graphs are about a hundred small convolutions each. Launched one by one, every cuDNN
call cost ~45 us of CPU on an H100 (2.3 ms when two threads launched at once), so a call was bound by the
CPU, not the GPU: the whole 2D capture ran 12 frames/s on the GPU against 107 on that machine's CPU.
A graph records the kernels once and a replay launches them all in one call.

A graph owns fixed input and output buffers: each call copies its input into the batch size's buffer,
replays and returns copies of the outputs. Calls must not overlap (the caller holds a lock).
"""

from __future__ import annotations

import torch


class GraphedModule:
    """module(x) on CUDA through one captured graph per batch size; outputs are fresh tensors."""

    def __init__(self, module: torch.nn.Module, warmup: int = 2) -> None:
        self.module = module
        self.warmup = warmup
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, tuple[torch.Tensor, ...]]] = {}

    @property
    def batch_sizes(self) -> list[int]:
        """The batch sizes captured so far."""
        return sorted(self._graphs)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if x.dim() != 4 or tuple(x.shape[1:]) != tuple(getattr(self.module, "input_shape", x.shape[1:])):
            return self.module(x)  # raises the module's own error for a wrong shape
        n = x.shape[0]
        entry = self._graphs.get(n)
        if entry is None:
            entry = self._graphs[n] = self._capture(x)
        graph, static_in, static_out = entry
        static_in.copy_(x)
        graph.replay()
        return tuple(o.clone() for o in static_out)

    def _capture(self, x: torch.Tensor):
        # Warm-up runs on a side stream (cuDNN picks its kernels, the allocator sizes its blocks), as
        # torch.cuda.graphs requires before a capture.
        static_in = x.detach().clone()
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.module(static_in)
        torch.cuda.current_stream(x.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, capture_error_mode="thread_local"):
            static_out = tuple(self.module(static_in))
        return graph, static_in, static_out
