"""Time lecture 4's evaluation before and after batching it on the device (issue 15, item 4).

Runs lecture 4's evaluation (denoising filters tuned and applied, PSNR and MSE tables,
classifier accuracy under random noise, FGSM attacks) on the 10,000 Fashion-MNIST test
images twice: as it was (scipy.ndimage filters on NumPy copies, every denoiser recomputed
for each table, predictions moved to the CPU batch by batch) and as it is now (aelib's
batched filters, tensors kept on the device, one sync per number). It checks that both
give the same tables, then prints the median of 3 timings of each.

    python benchmarks/bench_lecture4_evaluation.py [--repeats 3] [--num-images 10000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

import aelib

CONDITIONS = [("gaussian", s) for s in (0.1, 0.2, 0.3, 0.5, 0.8)] + [("salt & pepper", a) for a in (0.05, 0.1, 0.2, 0.4)]
EPSILONS = [0.05, 0.1, 0.2, 0.3]


def add_noise(images, kind, level, seed):
    if kind == "gaussian":
        return aelib.add_gaussian_noise(images, level, generator=seed)
    return aelib.add_salt_and_pepper(images, level, generator=seed)


def classifier_model() -> nn.Module:
    """Return lecture 4's digit classifier (untrained weights cost the same time as trained ones)."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )


def evaluate_before(plain_ae, dae, classifier, images, labels, val_images, device):
    """Lecture 4's evaluation as it was: scipy filters on the CPU, every denoiser recomputed per table."""

    def gaussian_blur(x, sigma):
        return torch.from_numpy(ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma)))

    def median_filter(x, size):
        return torch.from_numpy(ndimage.median_filter(x.numpy(), size=(1, 1, size, size)))

    def best_strength(filter_fn, strengths, noisy, clean):
        return max(strengths, key=lambda s: aelib.psnr(clean, filter_fn(noisy, s)).mean().item())

    @torch.no_grad()
    def accuracy(model, x, y, batch_size=1000):
        model.eval()
        predictions = torch.cat([model(x[i : i + batch_size].to(device)).argmax(dim=1).cpu() for i in range(0, len(x), batch_size)])
        return (predictions == y).float().mean().item()

    def fgsm(model, x_all, y_all, eps, batch_size=1000):
        model.eval()
        out = []
        for i in range(0, len(x_all), batch_size):
            x = x_all[i : i + batch_size].to(device).requires_grad_(True)
            loss = F.cross_entropy(model(x), y_all[i : i + batch_size].to(device))
            (grad,) = torch.autograd.grad(loss, x)
            out.append((x + eps * grad.sign()).clamp(0, 1).detach().cpu())
        return torch.cat(out)

    noisy_test = {c: add_noise(images, *c, seed=1) for c in CONDITIONS}
    blur_sigma, median_size = {}, {}
    for c in CONDITIONS:
        noisy_val = add_noise(val_images, *c, seed=2)
        blur_sigma[c] = best_strength(gaussian_blur, [0.5, 0.75, 1.0, 1.5, 2.0], noisy_val, val_images)
        median_size[c] = best_strength(median_filter, [3, 5], noisy_val, val_images)
    denoisers = {
        "noisy input": lambda noisy, c: noisy,
        "plain AE": lambda noisy, c: aelib.reconstruct(plain_ae, noisy),
        "denoising AE": lambda noisy, c: aelib.reconstruct(dae, noisy),
        "Gaussian blur": lambda noisy, c: gaussian_blur(noisy, blur_sigma[c]),
        "median filter": lambda noisy, c: median_filter(noisy, median_size[c]),
    }
    table = {}
    for c in CONDITIONS:
        restored = {name: fn(noisy_test[c], c) for name, fn in denoisers.items()}
        table[c] = {name: aelib.psnr(images, r).mean().item() for name, r in restored.items()}
        table[c] |= {f"{name} MSE": aelib.mse_per_image(images, r).mean().item() for name, r in restored.items()}
    defences = {name: denoisers[name] for name in ("noisy input", "denoising AE", "median filter")}
    for c in CONDITIONS:
        table[c] |= {f"{name} accuracy": accuracy(classifier, fn(noisy_test[c], c), labels) for name, fn in defences.items()}
    defended = nn.Sequential(dae, classifier).eval()
    for eps in EPSILONS:
        adversarial = fgsm(classifier, images, labels, eps)
        through = fgsm(defended, images, labels, eps)
        table[eps] = {
            "FGSM": accuracy(classifier, adversarial, labels),
            "FGSM, then DAE": accuracy(classifier, aelib.reconstruct(dae, adversarial), labels),
            "FGSM, then median": accuracy(classifier, median_filter(adversarial, 3), labels),
            "FGSM through DAE": accuracy(defended, through, labels),
        }
    return table


def evaluate_after(plain_ae, dae, classifier, images, labels, val_images, device):
    """Lecture 4's evaluation as it is now: batched filters and models, every tensor on the device."""
    images, labels, val_images = images.to(device), labels.to(device), val_images.to(device)

    @torch.no_grad()
    def apply(model, x, batch_size=1000):
        model.eval()
        return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])

    def mean_psnr(x_hat, x=images):
        return aelib.psnr(x, x_hat).mean().item()

    def best_strength(filter_fn, strengths, noisy, clean):
        return max(strengths, key=lambda s: mean_psnr(filter_fn(noisy, s), clean))

    @torch.no_grad()
    def accuracy(model, x, batch_size=1000):
        model.eval()
        correct = sum((model(x[i : i + batch_size]).argmax(dim=1) == labels[i : i + batch_size]).sum() for i in range(0, len(x), batch_size))
        return correct.item() / len(x)

    def fgsm(model, x_all, eps, batch_size=1000):
        model.eval()
        out = []
        for i in range(0, len(x_all), batch_size):
            x = x_all[i : i + batch_size].clone().requires_grad_(True)
            loss = F.cross_entropy(model(x), labels[i : i + batch_size])
            (grad,) = torch.autograd.grad(loss, x)
            out.append((x + eps * grad.sign()).clamp(0, 1).detach())
        return torch.cat(out)

    noisy_test = {c: add_noise(images, *c, seed=1) for c in CONDITIONS}
    blur_sigma, median_size = {}, {}
    for c in CONDITIONS:
        noisy_val = add_noise(val_images, *c, seed=2)
        blur_sigma[c] = best_strength(aelib.gaussian_blur, [0.5, 0.75, 1.0, 1.5, 2.0], noisy_val, val_images)
        median_size[c] = best_strength(aelib.median_filter, [3, 5], noisy_val, val_images)
    denoisers = {
        "noisy input": lambda noisy, c: noisy,
        "plain AE": lambda noisy, c: apply(plain_ae, noisy),
        "denoising AE": lambda noisy, c: apply(dae, noisy),
        "Gaussian blur": lambda noisy, c: aelib.gaussian_blur(noisy, blur_sigma[c]),
        "median filter": lambda noisy, c: aelib.median_filter(noisy, median_size[c]),
    }
    table = {}
    for c in CONDITIONS:
        restored = {name: fn(noisy_test[c], c) for name, fn in denoisers.items()}
        table[c] = {name: mean_psnr(r) for name, r in restored.items()}
        table[c] |= {f"{name} MSE": aelib.mse_per_image(images, r).mean().item() for name, r in restored.items()}
    defences = {name: denoisers[name] for name in ("noisy input", "denoising AE", "median filter")}
    for c in CONDITIONS:
        table[c] |= {f"{name} accuracy": accuracy(classifier, fn(noisy_test[c], c)) for name, fn in defences.items()}
    defended = nn.Sequential(dae, classifier).eval()
    for eps in EPSILONS:
        adversarial = fgsm(classifier, images, eps)
        table[eps] = {
            "FGSM": accuracy(classifier, adversarial),
            "FGSM, then DAE": accuracy(classifier, apply(dae, adversarial)),
            "FGSM, then median": accuracy(classifier, aelib.median_filter(adversarial, 3)),
            "FGSM through DAE": accuracy(defended, fgsm(defended, images, eps)),
        }
    return table


def largest_difference(a: dict, b: dict) -> float:
    """Return the largest absolute difference between two evaluation tables with the same entries."""
    return max(abs(a[row][col] - b[row][col]) for row in a for col in a[row])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-images", type=int, default=10_000)
    args = parser.parse_args()
    device = aelib.get_device()
    data = aelib.load_fashion_mnist()
    images, labels = data.test_images[: args.num_images], data.test_labels[: args.num_images]
    val_images = data.train_images[:500]
    aelib.set_seed(0)
    plain_ae = aelib.ConvAutoencoder(final_activation=nn.Sigmoid).to(device)
    dae = aelib.ConvAutoencoder(final_activation=nn.Sigmoid).to(device)
    classifier = classifier_model().to(device)
    times = {"before": [], "after": []}
    tables = {}
    for _ in range(args.repeats):
        for name, evaluate in (("before", evaluate_before), ("after", evaluate_after)):
            start = time.perf_counter()
            tables[name] = evaluate(plain_ae, dae, classifier, images, labels, val_images, device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    difference = largest_difference(tables["before"], tables["after"])
    print(f"{len(images):,} Fashion-MNIST test images on {device.type}, {torch.get_num_threads()} threads; median of {args.repeats}")
    for name, ts in times.items():
        print(f"{name:>6}: {statistics.median(ts):7.1f} s   (runs: {', '.join(f'{t:.1f}' for t in ts)})")
    print(f"speed-up: {statistics.median(times['before']) / statistics.median(times['after']):.1f}x; "
          f"largest difference between the two tables: {difference:.2e}")
    if not np.isfinite(difference) or difference > 1e-3:
        raise SystemExit("the batched evaluation does not reproduce the old one")


if __name__ == "__main__":
    main()
