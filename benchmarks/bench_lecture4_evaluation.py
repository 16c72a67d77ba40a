"""Time lecture 4's evaluation as it was and as it is now, side by side (issue 15, item 4).

Runs the evaluation of lecture 4's sections 1.3 and 1.4 (denoising filters tuned and
applied, the PSNR and MSE tables, the classifier's accuracy under random noise, FGSM
attacks) on Fashion-MNIST test images, twice per repeat:

- before: the first edition's code, which recomputed the autoencoders' and the
  median filter's outputs for every table and moved every batch back to the CPU;
- after: the notebook's code now, which computes every output once, on the device, and
  shares it between the tables (the filters stay one scipy.ndimage call per stack), with
  the classifier in the channels-last layout, in which a CPU convolves and pools fastest.

Where the time went before (a profile on 2,000 images): the forward passes of the models,
most of all the classifier's convolutions and max-pooling, a quarter of the autoencoders'
passes and of the median filters repeated for the accuracy table; then scipy's median
filter and the FGSM backward passes. The filters were already one call per stack of
images, not a loop over images.

It checks that both give the same tables, then prints the median of the timings of each.
The models are untrained: trained weights cost the same time.

    python benchmarks/bench_lecture4_evaluation.py [--repeats 3] [--num-images 10000]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch import nn

import aelib

CONDITIONS = [("gaussian", s) for s in (0.1, 0.2, 0.3, 0.5, 0.8)] + [
    ("salt & pepper", a) for a in (0.05, 0.1, 0.2, 0.4)
]
EPSILONS = [0.05, 0.1, 0.2, 0.3]
BLUR_SIGMAS = [0.5, 0.75, 1.0, 1.5, 2.0]
MEDIAN_SIZES = [3, 5]


def add_noise(images: torch.Tensor, kind: str, level: float, seed: int) -> torch.Tensor:
    if kind == "gaussian":
        return aelib.add_gaussian_noise(images, level, generator=seed)
    return aelib.add_salt_and_pepper(images, level, generator=seed)


def random_signs(images: torch.Tensor, eps: float, seed: int = 3) -> torch.Tensor:
    signs = torch.randint(0, 2, images.shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    return (images + eps * signs.to(images.device)).clamp(0, 1)


def classifier_model() -> nn.Module:
    """Return lecture 4's digit classifier, as one Sequential."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10),
    )


def evaluate_before(plain_ae, dae, classifier, images, labels, val_images, device) -> dict:
    """Lecture 4's evaluation as committed: every table recomputes its denoisers; batches go back to the CPU."""

    def gaussian_blur(x, sigma):
        return torch.from_numpy(ndimage.gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma)))

    def median_filter(x, size):
        return torch.from_numpy(ndimage.median_filter(x.numpy(), size=(1, 1, size, size)))

    def best_strength(filter_fn, strengths, noisy, clean):
        return max(strengths, key=lambda s: aelib.psnr(clean, filter_fn(noisy, s)).mean().item())

    @torch.no_grad()
    def accuracy(model, x, y, batch_size=1000):
        model.eval()
        predictions = torch.cat(
            [model(x[i : i + batch_size].to(device)).argmax(dim=1).cpu() for i in range(0, len(x), batch_size)]
        )
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
        blur_sigma[c] = best_strength(gaussian_blur, BLUR_SIGMAS, noisy_val, val_images)
        median_size[c] = best_strength(median_filter, MEDIAN_SIZES, noisy_val, val_images)
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
        table[c] = {f"{name} PSNR": aelib.psnr(images, r).mean().item() for name, r in restored.items()}
        table[c] |= {f"{name} MSE": aelib.mse_per_image(images, r).mean().item() for name, r in restored.items()}
    table["clean"] = {
        "plain AE PSNR": aelib.psnr(images, aelib.reconstruct(plain_ae, images)).mean().item(),
        "denoising AE PSNR": aelib.psnr(images, aelib.reconstruct(dae, images)).mean().item(),
        "no defence accuracy": accuracy(classifier, images, labels),
        "denoising AE accuracy": accuracy(classifier, aelib.reconstruct(dae, images), labels),
        "median filter accuracy": accuracy(classifier, median_filter(images, 3), labels),
    }
    defences = {
        "no defence": denoisers["noisy input"],
        "denoising AE": denoisers["denoising AE"],
        "median filter": denoisers["median filter"],
    }
    for c in CONDITIONS:
        table[c] |= {
            f"{name} accuracy": accuracy(classifier, fn(noisy_test[c], c), labels) for name, fn in defences.items()
        }
    defended = nn.Sequential(dae, classifier).eval()
    for eps in EPSILONS:
        adversarial = fgsm(classifier, images, labels, eps)
        through_dae = fgsm(defended, images, labels, eps)
        table[eps] = {
            "random": accuracy(classifier, random_signs(images, eps), labels),
            "FGSM": accuracy(classifier, adversarial, labels),
            "FGSM, then DAE": accuracy(classifier, aelib.reconstruct(dae, adversarial), labels),
            "FGSM, then median": accuracy(classifier, median_filter(adversarial, 3), labels),
            "FGSM through DAE": accuracy(defended, through_dae, labels),
        }
    return table


def evaluate_after(plain_ae, dae, classifier, images, labels, val_images, device) -> dict:
    """Lecture 4's evaluation now: every output computed once, on the device, and shared between the tables."""
    test_x, test_y, val_x = images.to(device), labels.to(device), val_images.to(device)
    # The notebook trains its classifier in the channels-last layout.
    classifier = copy.deepcopy(classifier).to(memory_format=torch.channels_last)

    def gaussian_blur(x, sigma):
        return torch.from_numpy(ndimage.gaussian_filter(x.cpu().numpy(), sigma=(0, 0, sigma, sigma))).to(x.device)

    def median_filter(x, size):
        return torch.from_numpy(ndimage.median_filter(x.cpu().numpy(), size=(1, 1, size, size))).to(x.device)

    @torch.no_grad()
    def apply(model, x, batch_size=1000):
        model.eval()
        return torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])

    def mean_psnr(x_hat, x=test_x):
        return aelib.psnr(x, x_hat).mean().item()

    def best_strength(filter_fn, strengths, noisy, clean):
        return max(strengths, key=lambda s: mean_psnr(filter_fn(noisy, s), clean))

    @torch.no_grad()
    def accuracy(model, x, y=test_y, batch_size=1000):
        model.eval()
        correct = sum(
            (model(x[i : i + batch_size]).argmax(dim=1) == y[i : i + batch_size]).sum()
            for i in range(0, len(x), batch_size)
        )
        return correct.item() / len(x)

    def fgsm(model, x_all, y_all, eps, batch_size=1000):
        model.eval()
        out = []
        for i in range(0, len(x_all), batch_size):
            x = x_all[i : i + batch_size].clone().requires_grad_(True)
            loss = F.cross_entropy(model(x), y_all[i : i + batch_size])
            (grad,) = torch.autograd.grad(loss, x)
            out.append((x + eps * grad.sign()).clamp(0, 1).detach())
        return torch.cat(out)

    noisy_test = {c: add_noise(test_x, *c, seed=1) for c in CONDITIONS}
    blur_sigma, median_size = {}, {}
    for c in CONDITIONS:
        noisy_val = add_noise(val_x, *c, seed=2)
        blur_sigma[c] = best_strength(gaussian_blur, BLUR_SIGMAS, noisy_val, val_x)
        median_size[c] = best_strength(median_filter, MEDIAN_SIZES, noisy_val, val_x)
    denoisers = {
        "noisy input": lambda noisy, c: noisy,
        "plain AE": lambda noisy, c: apply(plain_ae, noisy),
        "denoising AE": lambda noisy, c: apply(dae, noisy),
        "Gaussian blur": lambda noisy, c: gaussian_blur(noisy, blur_sigma[c]),
        "median filter": lambda noisy, c: median_filter(noisy, median_size[c]),
    }
    table, defended_inputs = {}, {}
    for c in CONDITIONS:
        restored = {name: fn(noisy_test[c], c) for name, fn in denoisers.items()}
        table[c] = {f"{name} PSNR": mean_psnr(r) for name, r in restored.items()}
        table[c] |= {f"{name} MSE": aelib.mse_per_image(test_x, r).mean().item() for name, r in restored.items()}
        defended_inputs[c] = {
            "no defence": noisy_test[c],
            "denoising AE": restored["denoising AE"],
            "median filter": restored["median filter"],
        }
    clean_output = {"plain AE": apply(plain_ae, test_x), "denoising AE": apply(dae, test_x)}
    table["clean"] = {f"{name} PSNR": mean_psnr(x_hat) for name, x_hat in clean_output.items()}
    table["clean"] |= {
        "no defence accuracy": accuracy(classifier, test_x),
        "denoising AE accuracy": accuracy(classifier, clean_output["denoising AE"]),
        "median filter accuracy": accuracy(classifier, median_filter(test_x, 3)),
    }
    for c in CONDITIONS:
        table[c] |= {f"{name} accuracy": accuracy(classifier, x) for name, x in defended_inputs[c].items()}
    defended = nn.Sequential(dae, classifier).eval()
    for eps in EPSILONS:
        adversarial = fgsm(classifier, test_x, test_y, eps)
        through_dae = fgsm(defended, test_x, test_y, eps)
        table[eps] = {
            "random": accuracy(classifier, random_signs(test_x, eps)),
            "FGSM": accuracy(classifier, adversarial),
            "FGSM, then DAE": accuracy(defended, adversarial),
            "FGSM, then median": accuracy(classifier, median_filter(adversarial, 3)),
            "FGSM through DAE": accuracy(defended, through_dae),
        }
    return table


def largest_difference(a: dict, b: dict) -> float:
    """Return the largest absolute difference between two evaluation tables with the same entries."""
    if a.keys() != b.keys() or any(a[row].keys() != b[row].keys() for row in a):
        raise ValueError("the two evaluations produced different tables")
    return max(abs(a[row][col] - b[row][col]) for row in a for col in a[row])


def make_models(device: torch.device) -> tuple[nn.Module, nn.Module, nn.Module]:
    """Return lecture 4's plain AE, DAE and classifier, with seeded (untrained) weights, on `device`."""
    aelib.set_seed(0)
    plain_ae = aelib.ConvAutoencoder(final_activation=nn.Sigmoid).to(device)
    dae = aelib.ConvAutoencoder(final_activation=nn.Sigmoid).to(device)
    classifier = classifier_model().to(device)
    return plain_ae, dae, classifier


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-images", type=int, default=10_000)
    args = parser.parse_args(argv)
    device = aelib.get_device()
    data = aelib.load_fashion_mnist()
    images, labels = data.test_images[: args.num_images], data.test_labels[: args.num_images]
    val_images = data.train_images[:500]
    models = make_models(device)
    times = {"before": [], "after": []}
    tables = {}
    for _ in range(args.repeats):  # interleaved, so that a change in the machine's load hits both alike
        for name, evaluate in (("before", evaluate_before), ("after", evaluate_after)):
            start = time.perf_counter()
            tables[name] = evaluate(*models, images, labels, val_images, device)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    difference = largest_difference(tables["before"], tables["after"])
    print(
        f"{len(images):,} Fashion-MNIST test images on {device.type}, {torch.get_num_threads()} threads; "
        f"median of {args.repeats}"
    )
    for name, ts in times.items():
        print(f"{name:>6}: {statistics.median(ts):7.1f} s   (runs: {', '.join(f'{t:.1f}' for t in ts)})")
    print(
        f"speed-up: {statistics.median(times['before']) / statistics.median(times['after']):.2f}x; "
        f"largest difference between the two tables: {difference:.2e}"
    )
    if not np.isfinite(difference) or difference > 1e-4:
        raise SystemExit("the new evaluation does not reproduce the old one")
    return difference


if __name__ == "__main__":
    main()
