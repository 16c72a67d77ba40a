"""Lecture 2's exercises: upsampling and transposed convolutions.

A notebook's check cell calls one of the `check_*` functions below: it runs the
exercise's probe and judge on the fixed inputs and prints one verdict line (see
`aelib.exercises`). The exercises are defined in `upsampling` (2.1, 2.4), `sizes`
(2.2, 2.3) and `transposed` (2.5).
"""

from __future__ import annotations

from ..running import self_check
from .sizes import INPUT_SIZES, TRANSPOSE_PADDING
from .transposed import TRANSPOSED_CONV
from .upsampling import BED_OF_NAILS, RESIZE_CONV

__all__ = [
    "check_bed_of_nails",
    "check_input_sizes",
    "check_transpose_padding",
    "check_resize_conv",
    "check_transposed_conv",
]

check_bed_of_nails = self_check(
    BED_OF_NAILS, "Compare `bed_of_nails(x, scale_factor)` with the reference on several shapes and scale factors."
)
check_input_sizes = self_check(
    INPUT_SIZES,
    "Compare `input_sizes(output_size, kernel_size, stride, padding, dilation)` with a search over F.conv1d inputs.",
)
check_transpose_padding = self_check(
    TRANSPOSE_PADDING,
    "Check `transpose_padding(in_size, out_size, kernel_size, stride)` for a working (padding, output_padding).",
)
check_resize_conv = self_check(
    RESIZE_CONV,
    "Check `ResizeConv2d(in_channels, out_channels, scale_factor)`: shapes, learnable weights, no checkerboard.",
)
check_transposed_conv = self_check(
    TRANSPOSED_CONV,
    "Compare `transposed_conv(x, weight, stride, padding)` with `F.conv_transpose2d` on several settings.",
)
