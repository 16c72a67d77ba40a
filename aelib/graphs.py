"""A training step replayed as a CUDA graph: one launch instead of dozens (used by `train_autoencoder`).

A step of a small autoencoder is a few dozen tiny kernels; on a GPU each launch costs
more than its arithmetic. A CUDA graph records the step's kernels once and replays them
with one call (https://pytorch.org/docs/stable/notes/cuda.html#cuda-graphs). The step
must read its inputs from, and leave its results in, tensors that stay where they are:
`GraphedStep` copies each call's inputs into fixed buffers and replays. The first calls
run as they are, on a side stream, as PyTorch asks before a capture; a call whose inputs
have other shapes (the last, smaller batch of an epoch) also runs as it is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["GraphedStep"]


class GraphedStep:
    """Call `step(*inputs)` as a replayed CUDA graph after `warmup` plain calls; return its result tensor."""

    def __init__(self, step: Callable[..., torch.Tensor], *, warmup: int = 3) -> None:
        self.step, self.warmup = step, warmup
        self.graph: torch.cuda.CUDAGraph | None = None
        self.plain = False  # set when a capture fails: every later call runs the step as it is
        self.inputs: list[torch.Tensor] = []
        self.output: torch.Tensor | None = None

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        if self.plain:
            return self.step(*inputs)
        if self.graph is not None:
            if [x.shape for x in inputs] != [x.shape for x in self.inputs]:
                return self.step(*inputs)
            for static, x in zip(self.inputs, inputs, strict=True):
                static.copy_(x)
            self.graph.replay()
            return self.output
        if self.warmup > 0:
            self.warmup -= 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                result = self.step(*inputs)
            torch.cuda.current_stream().wait_stream(side)
            return result
        return self._capture(inputs)

    def _capture(self, inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Record the step once into a graph and replay it; if it cannot be recorded, say so and go on plainly."""
        self.inputs = [x.clone() for x in inputs]
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):  # records the kernels without running them
                self.output = self.step(*self.inputs)
        except RuntimeError as err:  # an operation that cannot be captured
            print(f"CUDA graph capture failed ({str(err).strip().splitlines()[0][:100]}); training on with plain steps")
            self.plain = True
            return self.step(*inputs)
        self.graph = graph
        self.graph.replay()
        return self.output
