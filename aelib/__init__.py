"""aelib: the helper library behind the executable autoencoder course.

The teaching code (models, losses, the first training loop) stays in the
notebooks; data, training at speed, plotting, seeding and grading live here.
"""

from .data import DatasetFileError, DataUnavailableError, Digits, load_fashion_mnist, load_mnist, read_idx
from .models import ConvAutoencoder, FCAutoencoder
from .plotting import plot_losses, show_image_rows, show_images, show_reconstructions
from .profiles import Profile, profile
from .training import History, count_parameters, evaluate_mse, reconstruct, train_autoencoder
from .utils import get_device, set_seed

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
]
