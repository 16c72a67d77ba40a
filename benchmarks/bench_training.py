"""Time one training epoch three ways: the lecture's DataLoader loop, `aelib.train_autoencoder`, and
`aelib.train_together` training three seeds at once as one batched model (its time divided by three,
per model; batched on the CPU too, where train_together itself would train them in turn).

Run it with `make bench`, or `python benchmarks/bench_training.py --help`.

The lecture's path is the slides' code: a torchvision dataset with `ToTensor()`,
`DataLoader(batch_size=128, shuffle=True)`, and the loop body that flattens (FC
models), runs the model, takes the MSE against the input and steps Adam. The
others are `aelib.train_autoencoder` on the same images, already on the device (a
CUDA graph per step on a GPU), and `aelib.train_together` on them for three seeds.
Both train the same models (`aelib.FCAutoencoder(5)`, `aelib.FCAutoencoder(784)`,
`aelib.ConvAutoencoder()`) with batch 128 and Adam (weight decay 1e-5).

Each epoch is timed on its own; the table gives the median, images per second,
the speed-up of `train_autoencoder` over the lecture's loop, and the arithmetic
rate achieved (FLOPs of one training step counted by PyTorch's FlopCounterMode)
against this machine's matrix-multiply peak (a large `torch.mm`, timed in the same
run). Epochs of the two paths alternate, so a machine that slows down part-way
slows both. Without the full MNIST training set (60,000 images) on disk,
Fashion-MNIST's 60,000 training images stand in: they have the same shape, so an
epoch costs the same. Results are printed and written as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.flop_counter import FlopCounterMode
from torchvision import datasets
from torchvision.transforms import ToTensor

import aelib
from idx_files import save_idx_copy  # beside this script

BATCH_SIZE = 128
# The paths timed, by key: the slides' loop, aelib's loop, and aelib's loop for several seeds at once (per model).
PATHS = {"lecture": "lecture loop", "aelib": "train_autoencoder", "together": "train_together, per model"}
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Model:
    """One model of the benchmark: how to build it, and whether the lecture's loop flattens its input."""

    name: str
    build: Callable[[], nn.Module]
    flatten: bool
    cpu_target: float  # minimum speed-up of train_autoencoder over the lecture's loop on a CPU


MODELS = {
    "fc5": Model("FC hidden 5", lambda: aelib.FCAutoencoder(5), True, 8.0),
    "fc784": Model("FC hidden 784", lambda: aelib.FCAutoencoder(784), True, 1.5),
    "conv": Model("conv AE", aelib.ConvAutoencoder, False, 1.5),
}
CUDA_CONV_EPOCH_TARGET_S = 1.0  # one epoch of the conv AE on a GPU: well under a second


def load_images(num_images: int) -> tuple[aelib.ImageData, str]:
    """Return a dataset with at least `num_images` training images and its torchvision class name.

    Full MNIST from a local copy if there is one; otherwise Fashion-MNIST stands in.
    """
    mnist = aelib.load_mnist(download=False, verbose=False)
    if len(mnist.train_images) >= num_images:
        return mnist, "MNIST"
    return aelib.load_fashion_mnist(download=False, verbose=False), "FashionMNIST"


def lecture_dataset(data: aelib.ImageData, torchvision_name: str, num_images: int, root: str | Path) -> Dataset:
    """Write the first `num_images` training images as IDX files under `root`; return torchvision's dataset over them.

    The dataset hands out one PIL image at a time through `ToTensor()`, as in the lecture.
    """
    subset = aelib.ImageData(
        data.name,
        data.train_images[:num_images],
        data.train_labels[:num_images],
        data.test_images[:BATCH_SIZE],
        data.test_labels[:BATCH_SIZE],
        data.source,
    )
    save_idx_copy(subset, root, torchvision_name)
    return getattr(datasets, torchvision_name)(root, train=True, transform=ToTensor(), download=False)


def lecture_epoch(
    model: nn.Module,
    loader: DataLoader,
    distance: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    flatten: bool,
) -> float:
    """Run one epoch of the slides' loop body; return the last batch's loss, which the slides print."""
    for img, _ in loader:  # the labels are not used
        if flatten:
            img = img.view(img.size(0), -1)  # (B, 1, 28, 28) => (B, 784)
        img = img.to(device)
        output = model(img)
        loss = distance(output, img)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return loss.item()


def synchronize(device: torch.device) -> None:
    """Wait for the device to finish its queued work, so a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def lecture_runner(spec: Model, dataset: Dataset, device: torch.device) -> Callable[[], float]:
    """Return a function that trains one model for one more epoch with the lecture's loop and returns the seconds."""
    torch.manual_seed(0)
    model = spec.build().to(device)
    distance = nn.MSELoss()
    optimizer = torch.optim.Adam(model.parameters(), weight_decay=1e-5)
    warmup = DataLoader(Subset(dataset, range(min(len(dataset), 4 * BATCH_SIZE))), batch_size=BATCH_SIZE, shuffle=True)
    lecture_epoch(model, warmup, distance, optimizer, device, spec.flatten)
    loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)

    def run() -> float:
        synchronize(device)
        start = time.perf_counter()
        lecture_epoch(model, loader, distance, optimizer, device, spec.flatten)
        synchronize(device)
        return time.perf_counter() - start

    return run


def epoch_runner(train: Callable[[int], object], device: torch.device, per: int = 1) -> Callable[[], float]:
    """Return a function that calls `train(epoch)` for the next epoch and returns its seconds (divided by `per`)."""
    epoch = 0

    def run() -> float:
        nonlocal epoch
        epoch += 1
        synchronize(device)
        start = time.perf_counter()
        train(epoch)
        synchronize(device)
        return (time.perf_counter() - start) / per

    return run


def aelib_runner(spec: Model, images: torch.Tensor, device: torch.device) -> Callable[[], float]:
    """Return a function that trains one model for one more epoch with `train_autoencoder` and returns the seconds."""
    torch.manual_seed(0)
    model = spec.build()
    aelib.train_autoencoder(model, images[: 4 * BATCH_SIZE], num_epochs=1, device=device, progress=False)
    return epoch_runner(
        lambda epoch: aelib.train_autoencoder(model, images, num_epochs=1, device=device, seed=epoch, progress=False),
        device,
    )


SEEDS = 3  # models trained together by the third path, as lecture 1's sweep trains each code size


def together_runner(spec: Model, images: torch.Tensor, device: torch.device) -> Callable[[], float]:
    """Return a function that trains SEEDS models as one batched model for one more epoch; seconds per model."""
    models = []
    for seed in range(SEEDS):
        torch.manual_seed(seed)
        models.append(spec.build())
    seeds = list(range(SEEDS))

    def train(epoch: int, x: torch.Tensor = images) -> None:
        shifted = [s + epoch for s in seeds]
        aelib.train_together(models, x, num_epochs=1, seeds=shifted, device=device, progress=False, batched=True)

    train(0, images[: 4 * BATCH_SIZE])  # warm-up
    return epoch_runner(train, device, per=SEEDS)


def training_flops_per_image(spec: Model, device: torch.device) -> float:
    """Count the FLOPs of one training step (forward and backward) per image, as PyTorch's FlopCounterMode does."""
    model = spec.build().to(device)
    x = torch.rand(BATCH_SIZE, 1, 28, 28, device=device)  # (B, 1, 28, 28)
    with FlopCounterMode(display=False) as counter:
        nn.functional.mse_loss(model(x), x).backward()
    return counter.get_total_flops() / BATCH_SIZE


def matmul_peak_gflops(device: torch.device, repeats: int = 5) -> float:
    """Measure this device's float32 matrix-multiply rate with one large `torch.mm` (median of `repeats`)."""
    n = 8192 if device.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def benchmark_device(
    device: torch.device, data: aelib.ImageData, dataset: Dataset, num_images: int, models: list[str], epochs: int
) -> dict:
    """Time every model on one device, both paths alternating epoch by epoch; return the results."""
    peak = matmul_peak_gflops(device)
    images = data.train_images[:num_images].to(device)  # (N, 1, 28, 28): on the device once, as in a notebook
    runners = {}
    for key in models:
        runners[key, "lecture"] = lecture_runner(MODELS[key], dataset, device)
        runners[key, "aelib"] = aelib_runner(MODELS[key], images, device)
        runners[key, "together"] = together_runner(MODELS[key], images, device)
    times: dict[tuple[str, str], list[float]] = {k: [] for k in runners}
    for epoch in range(1, epochs + 1):
        for key in models:
            for path in PATHS:
                times[key, path].append(runners[key, path]())
        line = "  ".join(key + " " + "/".join(f"{times[key, p][-1]:.2f}s" for p in PATHS) for key in models)
        print(f"  {device.type} epoch {epoch}/{epochs} ({'/'.join(PATHS)}): {line}", flush=True)
    rows = []
    for key in models:
        spec = MODELS[key]
        gflop_per_epoch = training_flops_per_image(spec, device) * num_images / 1e9
        lecture_s = statistics.median(times[key, "lecture"])
        for path in PATHS:
            seconds = statistics.median(times[key, path])
            rows.append(
                {
                    "path": PATHS[path],
                    "model": spec.name,
                    "key": key,
                    "device": device.type,
                    "epoch_s": seconds,
                    "epoch_times_s": times[key, path],
                    "images_per_s": num_images / seconds,
                    "speedup": lecture_s / seconds,
                    "gflop_per_epoch": gflop_per_epoch,
                    "gflops": gflop_per_epoch / seconds,
                    "percent_of_mm_peak": 100 * gflop_per_epoch / seconds / peak,
                    "target": target(key, device) if path == "aelib" else None,
                    "speedup_over_train_autoencoder": statistics.median(times[key, "aelib"]) / seconds,
                }
            )
    return {"device": device.type, "device_name": device_name(device), "mm_peak_gflops": peak, "rows": rows}


def target(key: str, device: torch.device) -> str | None:
    """Return the issue's target for train_autoencoder on this model and device, in words."""
    if device.type == "cpu":
        return f">= {MODELS[key].cpu_target:g}x"
    if device.type == "cuda" and key == "conv":
        return f"< {CUDA_CONV_EPOCH_TARGET_S:g} s"
    return None


def met(row: dict) -> str:
    """Say whether a row meets its target."""
    if row["target"] is None:
        return ""
    if row["target"].startswith("<"):
        ok = row["epoch_s"] < CUDA_CONV_EPOCH_TARGET_S
    else:
        ok = row["speedup"] >= MODELS[row["key"]].cpu_target
    return f"{row['target']} {'met' if ok else 'MISSED'}"


def device_name(device: torch.device) -> str:
    """Name the processor: the GPU's name, or the CPU's model and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    model = next(
        (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")),
        platform.processor() or platform.machine(),
    )
    return f"{model}, {os.cpu_count()} logical cores"


def format_table(result: dict) -> str:
    """Format one device's results as a plain-text table."""
    header = f"{'path':<26} {'model':<14} {'epoch s':>8} {'images/s':>9} {'ratio':>6} {'GFLOP/s':>8} "
    header += f"{'% mm peak':>9}  target"
    lines = [header, "-" * (len(header) + 16)]
    for row in result["rows"]:
        lines.append(
            f"{row['path']:<26} {row['model']:<14} {row['epoch_s']:>8.2f} {row['images_per_s']:>9,.0f} "
            f"{row['speedup']:>5.1f}x {row['gflops']:>8.1f} {row['percent_of_mm_peak']:>8.1f}%  {met(row)}"
        )
    lines.append(f"matrix-multiply peak (torch.mm, float32): {result['mm_peak_gflops']:.1f} GFLOP/s")
    return "\n".join(lines)


def load_average() -> list[float] | None:
    """Return the 1, 5 and 15-minute load averages where the system has them."""
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--epochs",
        "--repeats",
        type=int,
        default=None,
        help="timed epochs per path and model; the median is reported (default 5, 3 with --quick)",
    )
    parser.add_argument("--num-images", type=int, default=60_000, help="training images per epoch (default 60,000)")
    parser.add_argument(
        "--models", nargs="+", choices=sorted(MODELS), default=list(MODELS), help="models to time (default all)"
    )
    parser.add_argument(
        "--device",
        choices=("cpu", "cuda", "all"),
        default="all",
        help="where to run (default: the CPU, and the GPU if there is one)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads for both paths (default: PyTorch's choice)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 2,048 images, 3 epochs; results go to a separate file"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON output (default benchmarks/results/bench_training[_quick].json)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.num_images = 2048
    if args.epochs is None:
        args.epochs = 3 if args.quick else 5
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    if args.device == "cuda" and not devices:
        parser.error("--device cuda: CUDA is not available on this machine")

    data, torchvision_name = load_images(args.num_images)
    num_images = min(args.num_images, len(data.train_images))
    stand_in = torchvision_name != "MNIST"
    print(
        f"Data: {num_images:,} training images of {data.source}"
        + (" (standing in for MNIST: same shape, same cost per epoch)" if stand_in else "")
    )
    print(
        f"Batch {BATCH_SIZE}, Adam; median of {args.epochs} epochs per path; torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads; load average {load_average()}",
        flush=True,
    )
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="aelib-bench-") as root:
        dataset = lecture_dataset(data, torchvision_name, num_images, root)
        results = [benchmark_device(device, data, dataset, num_images, args.models, args.epochs) for device in devices]
    for result in results:
        print(f"\n{result['device']}: {result['device_name']}")
        print(format_table(result))
    report = {
        "benchmark": "one training epoch: the lecture's DataLoader loop vs aelib.train_autoencoder vs train_together",
        "data": data.source,
        "stand_in_for_mnist": stand_in,
        "num_images": num_images,
        "batch_size": BATCH_SIZE,
        "epochs_timed": args.epochs,
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "python": sys.version.split()[0],
        "results": results,
    }
    out = args.out or RESULTS / ("bench_training_quick.json" if args.quick else "bench_training.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nload average after: {report['load_average_after']}; results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
