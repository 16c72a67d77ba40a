"""aelib: the helper library behind the executable autoencoder course.

The teaching code (models, losses, the first training loop) stays in the
notebooks; data, training at speed, plotting, seeding and grading live here.
"""

from .cache import load_or_train, model_cache_dir
from .convolution import conv_matrix, conv_output_size, conv_transpose_output_size, show_conv_matrix
from .data import DatasetFileError, DataUnavailableError, ImageData, load_fashion_mnist, load_mnist, read_idx
from .explorer import conv_explorer, describe_sizes, draw_conv_arithmetic
from .latent import encode, plot_code_views
from .metrics import mse_per_image, psnr, reconstruction_errors, threshold_at_fpr
from .models import ConvAutoencoder, FCAutoencoder
from .noise import add_gaussian_noise, add_salt_and_pepper, downsample, pixelate
from .plotting import plot_loss_bands, plot_losses, show_heatmap, show_image_rows, show_images, show_reconstructions
from .profiles import Profile, profile
from .runtime import get_device, set_seed
from .shapes import LayerShape, ShapeTrace, trace_shapes
from .training import History, Snapshots, count_parameters, evaluate_mse, reconstruct, train_autoencoder
from .upsampling import overlap_count, show_overlap_counts, upsample_bed_of_nails

__version__ = "0.1.0"

__all__ = [
    "DatasetFileError",
    "DataUnavailableError",
    "ConvAutoencoder",
    "FCAutoencoder",
    "History",
    "ImageData",
    "Profile",
    "count_parameters",
    "evaluate_mse",
    "get_device",
    "load_fashion_mnist",
    "load_mnist",
    "load_or_train",
    "encode",
    "plot_code_views",
    "model_cache_dir",
    "plot_losses",
    "plot_loss_bands",
    "show_heatmap",
    "profile",
    "read_idx",
    "reconstruct",
    "set_seed",
    "show_image_rows",
    "show_images",
    "show_reconstructions",
    "Snapshots",
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
    "overlap_count",
    "show_conv_matrix",
    "show_overlap_counts",
    "upsample_bed_of_nails",
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
