"""Several models of one architecture trained as one batched model (lectures 1, 3 and 4).

A comparison over seeds trains the same architecture several times. Run one after
another, each step is a handful of small kernels: on a GPU the time goes to launching
them, on a CPU to PyTorch's per-call overhead. Here the models' parameters are stacked
along a new first dimension (`torch.func.stack_module_state`) and one `vmap`-ed forward
and backward pass trains them all. Each model keeps its own initial weights, its own
seed for shuffling, its own data and its own Adam state: what each learns is what
`train_autoencoder` would teach it alone, up to float rounding (tests/test_together.py).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap
from torch.optim.adam import adam

from .graphs import GraphedStep
from .runtime import get_device
from .training import History, _check_shapes, _show_progress, train_autoencoder

__all__ = ["train_together"]

BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, as in the lecture


def _check_same_architecture(models: Sequence[nn.Module]) -> None:
    first = models[0]
    shapes = {name: t.shape for name, t in first.state_dict().items()}
    for i, model in enumerate(models[1:], start=1):
        other = {name: t.shape for name, t in model.state_dict().items()}
        if type(model) is not type(first) or other != shapes:
            raise ValueError(
                f"train_together trains copies of one architecture, but model {i} is a {type(model).__name__} "
                f"with {len(other)} tensors and model 0 a {type(first).__name__} with {len(shapes)}: "
                "train different architectures in separate calls"
            )


def _epoch_batches(
    sizes: Sequence[int], offsets: Sequence[int], generators: Sequence[torch.Generator], batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return one epoch's batches: indices (steps, M, B) into the stacked data, and a mask (steps, M, B) of real ones.

    Model m draws its own permutation of its own N_m images, as `train_autoencoder` does with
    its seed; a model whose epoch has fewer batches is padded with masked-out indices.
    """
    steps = max(math.ceil(n / batch_size) for n in sizes)
    index = torch.zeros(len(sizes), steps * batch_size, dtype=torch.long)
    mask = torch.zeros(len(sizes), steps * batch_size)
    for m, (n, offset, generator) in enumerate(zip(sizes, offsets, generators, strict=True)):
        index[m, :n] = torch.randperm(n, generator=generator) + offset  # where model m's images start
        index[m, n:] = offset  # a real image, masked out of the loss
        mask[m, :n] = 1
    index = index.view(len(sizes), steps, batch_size).transpose(0, 1)  # (steps, M, B)
    return index, mask.view(len(sizes), steps, batch_size).transpose(0, 1)


def train_together(
    models: Sequence[nn.Module],
    train_images: torch.Tensor | Sequence[torch.Tensor],
    *,
    num_epochs: int,
    seeds: Sequence[int],
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    test_images: torch.Tensor | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    graph: bool | None = None,
    batched: bool | None = None,
) -> list[History]:
    """Train M models of one architecture at once, each as `train_autoencoder(model, ..., seed=seeds[m])` would.

    Args:
        models: M models of one class with the same tensor shapes, each with its own initial weights.
        train_images: one (N, ...) tensor for all, or M tensors (N_m, ...), one per model.
        seeds: M seeds, one per model: the order of its batches.
        test_images: if given, each model's test loss is measured after every epoch.
        graph: replay each step as a CUDA graph (`aelib.graphs`); None means on a GPU.
        batched: train the M models as one batched model; None means on a GPU. On a CPU the
            arithmetic, not the launch overhead, sets the pace, and a batched matrix product
            of M models splits less evenly over the cores than M products one after another:
            there the models train in turn, with `train_autoencoder` (benchmarks/bench_training.py).

    Returns:
        One History per model. Each model gets its trained weights back, on `device`, in eval mode.
    """
    if len(seeds) != len(models) or not models:
        raise ValueError(f"train_together needs one seed per model: got {len(models)} models and {len(seeds)} seeds")
    _check_same_architecture(models)
    shared = isinstance(train_images, torch.Tensor)
    images = [train_images] * len(models) if shared else list(train_images)
    if len(images) != len(models):
        raise ValueError(f"got {len(images)} image tensors for {len(models)} models: give one tensor, or one per model")
    device = get_device(device)
    if not (device.type == "cuda" if batched is None else batched):
        return [
            train_autoencoder(
                model, x, num_epochs=num_epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                test_images=test_images, device=device, seed=seed, progress=progress, graph=graph,
            )
            for model, x, seed in zip(models, images, seeds, strict=True)
        ]  # fmt: skip
    x_all = (train_images if shared else torch.cat(images)).to(device)  # (sum N_m, ...) or the shared (N, ...)
    sizes = [len(x) for x in images]
    offsets = [0] * len(models) if shared else [sum(sizes[:m]) for m in range(len(models))]
    params, buffers = stack_module_state([model.to(device) for model in models])  # name => (M, ...) each
    base = copy.deepcopy(models[0]).to("meta")  # the architecture, without weights

    def forward(p, b, x):  # one model's parameters and batch => its reconstruction
        return functional_call(base, (p, b), (x,))

    batched = vmap(forward)  # (M, ...) parameters, (M, B, ...) batches => (M, B, ...)
    adam = _Adam(params, lr, weight_decay)
    leaves = list(params.values())
    everyone = [True] * len(models)

    def step(index: torch.Tensor, mask: torch.Tensor, active: list[bool] = everyone) -> torch.Tensor:
        """Train each active model on its batch: images `index` (M, B), real ones `mask` (M, B); return M losses."""
        x = x_all[index]  # (M, B, ...): each model's batch
        x_hat = batched(params, buffers, x)
        _check_shapes(x_hat[0], x[0])
        count = mask.sum(dim=1)  # (M,) real images in each model's batch
        per_image = (x_hat - x).square().flatten(2).mean(dim=2)  # (M, B)
        loss = (per_image * mask).sum(dim=1) / count.clamp(min=1)  # (M,) each model's batch-mean MSE
        grads = torch.autograd.grad(loss.sum(), leaves)  # the sum gives each model its own gradient
        adam.step([g.contiguous() for g in grads], active)  # vmap may give strided gradients; fused Adam wants dense
        return loss.detach() * count

    graphed = GraphedStep(step) if (device.type == "cuda" if graph is None else graph) else step
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    histories = [History() for _ in models]
    epochs = range(1, num_epochs + 1)
    if _show_progress(progress):
        from tqdm.auto import tqdm

        epochs = tqdm(epochs, desc=f"training {len(models)} models together", unit="epoch")
    base.train()
    for _ in epochs:
        index, mask = _epoch_batches(sizes, offsets, generators, batch_size)
        active = mask.any(dim=2).tolist()  # (steps, M), on the CPU: who takes each step
        index, mask = index.to(device), mask.to(device)
        total = torch.zeros(len(models), device=device)
        for i in range(len(index)):
            total += graphed(index[i], mask[i]) if all(active[i]) else step(index[i], mask[i], active[i])
        for m, history in enumerate(histories):
            history.train_loss.append(total[m].item() / sizes[m])
        if test_images is not None:
            base.eval()
            mse_each = _test_mse(batched, params, buffers, test_images, device)
            for history, mse in zip(histories, mse_each, strict=True):
                history.test_loss.append(mse)
            base.train()
    trained = params | buffers
    for m, model in enumerate(models):  # hand each model its own trained weights
        with torch.no_grad():
            model.load_state_dict({name: t[m] for name, t in trained.items()})
        model.eval()
    return histories


class _Adam:
    """torch.optim.Adam (L2 weight decay) for each model's slice of the stacked (M, ...) parameters.

    Each model has its own moments and step count. A step may leave some models out: a
    model whose epoch has fewer batches waits, its weights and moments untouched, as it
    would if trained alone.
    """

    def __init__(self, params: dict[str, torch.Tensor], lr: float, weight_decay: float) -> None:
        self.params, self.lr, self.weight_decay = list(params.values()), lr, weight_decay
        self.m1 = [torch.zeros_like(p) for p in self.params]  # (M, ...) each: the two moments
        self.m2 = [torch.zeros_like(p) for p in self.params]
        device = self.params[0].device
        self.steps = [[torch.zeros((), device=device) for _ in p] for p in self.params]  # a count per model and tensor
        try:  # the fused kernel, as train_autoencoder uses, where this PyTorch has it for this device
            torch.optim.Adam([torch.zeros(1, device=device)], fused=True)
            self.fused = True
        except (RuntimeError, ValueError):
            self.fused = False

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], active: list[bool]) -> None:
        """Update each active model m with its slice `g[m]` of each gradient (M, ...)."""
        rows = [m for m, on in enumerate(active) if on]

        def each(tensors):  # one list over every tensor of every active model
            return [t[m] for t in tensors for m in rows]

        adam(
            each(self.params),
            each(grads),
            each(self.m1),
            each(self.m2),
            [],
            [steps[m] for steps in self.steps for m in rows],
            fused=self.fused or None,
            capturable=self.params[0].is_cuda,
            amsgrad=False,
            beta1=BETAS[0],
            beta2=BETAS[1],
            lr=self.lr,
            weight_decay=self.weight_decay,
            eps=EPS,
            maximize=False,
        )


@torch.no_grad()
def _test_mse(batched, params, buffers, test_images: torch.Tensor, device: torch.device, batch_size: int = 1024):
    """Return each model's mean squared error over `test_images`, all models at once."""
    total = torch.zeros(next(iter(params.values())).shape[0], dtype=torch.float64, device=device)
    for i in range(0, len(test_images), batch_size):
        x = test_images[i : i + batch_size].to(device)
        x = x.unsqueeze(0).expand(len(total), *x.shape)  # (M, B, ...): the same images for every model
        total += (batched(params, buffers, x) - x).square().flatten(1).sum(dim=1, dtype=torch.float64)
    return (total / test_images.numel()).tolist()
