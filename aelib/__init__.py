"""aelib: the helper library behind the executable autoencoder course.

The teaching code (models, losses, the first training loop) stays in the
notebooks; data, training at speed, plotting, seeding and grading live here.
"""

from .data import DatasetFileError, DataUnavailableError, Digits, load_fashion_mnist, load_mnist, read_idx
from .models import ConvAutoencoder, FCAutoencoder
from .plotting import plot_losses, show_image_rows, show_images, show_reconstructions
from .profiles import Profile, profile
from .shapes import LayerShape, ShapeTrace, trace_shapes
from .training import History, count_parameters, evaluate_mse, reconstruct, train_autoencoder
from .utils import get_device, set_seed
from .convolution import conv_matrix, conv_output_size, conv_transpose_output_size, show_conv_matrix
from .explorer import conv_explorer, describe_sizes, draw_conv_arithmetic
from .metrics import mse_per_image, psnr, reconstruction_errors, threshold_at_fpr
from .noise import add_gaussian_noise, add_salt_and_pepper, downsample, pixelate
from .upsampling import (
    max_pool_with_indices,
    overlap_count,
    show_overlap_counts,
    upsample_bed_of_nails,
    upsample_bilinear,
    upsample_max_unpool,
    upsample_nearest,
)

__version__ = "0.1.0"

__all__ = [
    "DatasetFileError",
    "DataUnavailableError",
    "Digits",
    "ConvAutoencoder",
    "FCAutoencoder",
    "History",
    "Profile",
    "count_parameters",
    "evaluate_mse",
    "get_device",
    "load_fashion_mnist",
    "load_mnist",
    "plot_losses",
    "profile",
    "read_idx",
    "reconstruct",
    "set_seed",
    "show_image_rows",
    "show_images",
    "show_reconstructions",
    "train_autoencoder",
    # lecture 3: shape traces
    "LayerShape",
    "ShapeTrace",
    "trace_shapes",
    # lecture 2: convolution arithmetic, upsampling, the explorer
    "conv_explorer",
    "conv_matrix",
    "conv_output_size",
    "conv_transpose_output_size",
    "describe_sizes",
    "draw_conv_arithmetic",
    "max_pool_with_indices",
    "overlap_count",
    "show_conv_matrix",
    "show_overlap_counts",
    "upsample_bed_of_nails",
    "upsample_bilinear",
    "upsample_max_unpool",
    "upsample_nearest",
    # lecture 4: noise, resizing, image and anomaly metrics
    "add_gaussian_noise",
    "add_salt_and_pepper",
    "downsample",
    "mse_per_image",
    "pixelate",
    "psnr",
    "reconstruction_errors",
    "threshold_at_fpr",
]
