"""Lecture 3's exercises (the convolutional autoencoder).

3.1 count a (transposed) convolution's parameters; 3.2 build the transposed
convolution that mirrors an encoder layer (choosing its output_padding); 3.3 write a
decoder for a given code shape; 3.4 build and train a small convolutional autoencoder
within a budget (the check trains nothing: it measures the trained model).

A notebook's check cell calls one of the `check_*` functions below: it runs the
exercise's probe and judge on the fixed inputs and prints one verdict line (see
`aelib.exercises`). The exercises are defined in `layers` (3.1 to 3.3) and `budget` (3.4).
"""

from __future__ import annotations

from ..running import self_check
from .budget import ALLOWED_LAYERS, BUDGET_AUTOENCODER, MAX_CODE_SIZE, MAX_PARAMETERS, MSE_FRACTION
from .layers import CODE_SHAPE, CONV_PARAMETERS, MAKE_DECODER, MIRROR_LAYER, exercise_encoder

__all__ = [
    "check_conv_parameters",
    "check_mirror_layer",
    "check_make_decoder",
    "check_budget_autoencoder",
    "exercise_encoder",
    "CODE_SHAPE",
    "MAX_PARAMETERS",
    "MAX_CODE_SIZE",
    "MSE_FRACTION",
    "ALLOWED_LAYERS",
]

check_conv_parameters = self_check(
    CONV_PARAMETERS,
    "Compare `conv_parameters(in_channels, out_channels, kernel_size, bias=True)` with PyTorch's layers.",
)
check_mirror_layer = self_check(
    MIRROR_LAYER, "Check that `mirror_layer(conv, (H, W))` is a ConvTranspose2d that undoes `conv`'s shape change."
)
check_make_decoder = self_check(
    MAKE_DECODER, "Check that `make_decoder()` maps codes (B, 8, 4, 4) to images (B, 1, 28, 28) in [0, 1]."
)
check_budget_autoencoder = self_check(
    BUDGET_AUTOENCODER,
    "Check a trained model: layers, shapes (B, 1, 28, 28) => code => (B, 1, 28, 28), budget and test MSE.",
)
