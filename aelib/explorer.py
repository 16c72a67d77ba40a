"""An interactive explorer of convolution arithmetic, and its static drawing (lecture 2).

`draw_conv_arithmetic` draws, along one dimension, a convolution and, below it, the
transposed convolution with the same parameters applied to its output (14 => 7 => 14 by
default); `conv_explorer` puts sliders on it. A 2-D layer does the same along rows and
along columns. The explorer uses only widgets that ipywidgets 7 (Colab) and 8 both have;
a static book shows the drawing instead.
"""

from __future__ import annotations

import html
import textwrap

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .convolution import conv_output_size, conv_transpose_output_size

__all__ = ["describe_sizes", "draw_conv_arithmetic", "conv_explorer", "EXPLORER_SLIDERS"]

# name: (minimum, maximum, default); the defaults are lecture 3's second encoder layer (14 => 7)
# and the decoder layer that mirrors it (7 => 14).
EXPLORER_SLIDERS = {
    "size": (1, 16, 14),
    "kernel_size": (1, 6, 3),
    "stride": (1, 4, 2),
    "padding": (0, 4, 1),
    "output_padding": (0, 3, 1),
    "dilation": (1, 3, 1),
}


def _sizes(
    size: int, kernel_size: int, stride: int, padding: int, output_padding: int, dilation: int
) -> tuple[int | str, int | str]:
    """Return (conv output size, size of the transposed conv applied to it), each an int or why PyTorch refuses."""
    try:
        conv = conv_output_size(size, kernel_size, stride, padding, dilation)
    except ValueError as err:
        return str(err), "there is no convolution output to transpose"
    try:
        transposed = conv_transpose_output_size(conv, kernel_size, stride, padding, output_padding, dilation)
    except ValueError as err:
        transposed = str(err)
    return conv, transposed


def _restoring_output_padding(size: int, kernel_size: int, stride: int, padding: int, dilation: int) -> int:
    """Return the output_padding with which the transposed convolution gives back `size` (the floor's remainder)."""
    return (size + 2 * padding - dilation * (kernel_size - 1) - 1) % stride


def _round_trip(n: int, k: int, s: int, p: int, d: int, transposed: int) -> str:
    if transposed == n:
        return f"the convolution's input size {n} again"
    return (
        f"not the convolution's input size {n}: output_padding={_restoring_output_padding(n, k, s, p, d)} gives it back"
    )


def describe_sizes(size: int, kernel_size: int, stride: int, padding: int, output_padding: int, dilation: int) -> str:
    """Return an HTML paragraph: the convolution's output size, and the transposed convolution's on that output.

    Where PyTorch refuses the parameters, the paragraph says why instead.
    """
    n, k, s, p, op, d = size, kernel_size, stride, padding, output_padding, dilation
    conv, transposed = _sizes(n, k, s, p, op, d)
    if not isinstance(conv, int):
        return f"<p><code>Conv2d</code> on size {n}: <i>PyTorch refuses</i>: {html.escape(conv)}</p>"
    conv_text = (
        f"&lfloor;({n} + 2&middot;{p} &minus; {d}&middot;({k} &minus; 1) &minus; 1) / {s}&rfloor; + 1 = <b>{conv}</b>"
    )
    transposed_text = (
        f"({conv} &minus; 1)&middot;{s} &minus; 2&middot;{p} "
        f"+ {d}&middot;({k} &minus; 1) + {op} + 1 = <b>{transposed}</b>, "
        f"{_round_trip(n, k, s, p, d, transposed)}"
        if isinstance(transposed, int)
        else f"<i>PyTorch refuses</i>: {html.escape(transposed)}"
    )
    return (
        f"<p><code>Conv2d</code> on size {n} (output_padding unused): {conv_text}<br>"
        f"<code>ConvTranspose2d</code> on that output, size {conv}: {transposed_text}</p>"
    )


def _cell(ax: Axes, x: float, y: float, label: str, face: str, hatch: str | None = None, edge: str = "0.3") -> None:
    ax.add_patch(Rectangle((x - 0.45, y - 0.45), 0.9, 0.9, facecolor=face, edgecolor=edge, hatch=hatch, linewidth=0.8))
    if label:
        ax.text(x, y, label, ha="center", va="center", fontsize="x-small")


def _refused(ax: Axes, title: str, reason: str) -> None:
    ax.set_title(title, fontsize="medium")
    ax.text(
        0.5,
        0.5,
        "PyTorch refuses these parameters:\n" + textwrap.fill(reason, 100),
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="firebrick",
        fontsize="small",
    )
    ax.axis("off")


def _centre(o: int, k: int, s: int, p: int, d: int) -> float:
    """Where conv output o (= transposed input o) sits: above the middle of the positions its kernel covers."""
    return o * s - p + d * (k - 1) / 2


TOP = 1.6  # height of the upper row of cells; the lower row sits at 0, the kernel's taps are drawn between


def _row_labels(ax: Axes, left: float, top: str, bottom: str) -> None:
    ax.text(left, TOP, top, ha="right", va="center", fontsize="x-small")
    ax.text(left, 0, bottom, ha="right", va="center", fontsize="x-small")


def _draw_conv(ax: Axes, n: int, k: int, s: int, p: int, d: int, out: int, left: float) -> None:
    colors = plt.cm.tab10.colors
    for x in range(-p, n + p):
        padded = x < 0 or x >= n
        _cell(ax, x, TOP, "0" if padded else str(x), "0.9" if padded else "white", "//" if padded else None)
    for o in range(out):
        for j in range(k):  # output o reads input position o*s - p + j*d
            ax.plot(
                [o * s - p + j * d, _centre(o, k, s, p, d)], [TOP - 0.45, 0.45], color=colors[o % 10], linewidth=1.0
            )
        _cell(ax, _centre(o, k, s, p, d), 0, str(o), "white", edge=colors[o % 10])
    _row_labels(ax, left + 1.2, "input", "output")


def _draw_transposed(ax: Axes, n: int, k: int, s: int, p: int, op: int, d: int, out: int, left: float) -> None:
    colors = plt.cm.tab10.colors
    full = (n - 1) * s + d * (k - 1) + 1  # before padding crops p positions at each end
    counts = [0] * max(full, p + out)  # output_padding may add positions that no tap reaches
    for i in range(n):
        for j in range(k):
            counts[i * s + j * d] += 1
    top = max(counts)
    for i in range(n):
        for j in range(k):  # input i stamps its kernel on output position i*s + j*d, shifted by the cropped p
            ax.plot(
                [_centre(i, k, s, p, d), i * s + j * d - p], [TOP - 0.45, 0.45], color=colors[i % 10], linewidth=1.0
            )
        _cell(ax, _centre(i, k, s, p, d), TOP, str(i), "white", edge=colors[i % 10])
    for t, c in enumerate(counts):
        kept = p <= t < p + out
        _cell(ax, t - p, 0, str(c), plt.cm.viridis(0.25 + 0.75 * c / top) if kept else "0.9", None if kept else "//")
    _row_labels(ax, left + 1.2, "input", "output")


def draw_conv_arithmetic(
    size: int = 14, kernel_size: int = 3, stride: int = 2, padding: int = 1, output_padding: int = 1, dilation: int = 1
) -> Figure:
    """Draw, in one dimension, a convolution (top) above the transposed convolution taking its output back (bottom).

    Both panels share the position axis: conv output o and transposed input o are drawn at the same
    place and in the same colour, and the transposed convolution connects exactly the pairs of
    positions that the convolution connects, in the other direction.
    """
    n, k, s, p, op, d = size, kernel_size, stride, padding, output_padding, dilation
    conv, transposed = _sizes(n, k, s, p, op, d)
    fig, (ax_conv, ax_t) = plt.subplots(2, 1, figsize=(10, 5.4), sharex=True, layout="constrained")
    conv_title = f"Conv2d, kernel {k}, stride {s}, padding {p}, dilation {d}"
    t_title = f"ConvTranspose2d, same kernel, stride, padding and dilation, output_padding {op}"
    if not isinstance(conv, int):
        _refused(ax_conv, f"{conv_title}, on size {n}", conv)
        _refused(ax_t, t_title, transposed)
        fig.suptitle("A convolution and its transposed convolution, along one dimension")
        return fig
    full = (conv - 1) * s + d * (k - 1) + 1  # the transposed output before cropping
    right = max(n + p, max(full, p + (transposed if isinstance(transposed, int) else 0)) - p)  # one past the last cell
    left = -p - 2.6
    _draw_conv(ax_conv, n, k, s, p, d, conv, left)
    ax_conv.set_title(f"{conv_title}: {n} => {conv}", fontsize="medium")
    ax_conv.set_xlabel("input position (hatched: zero padding)", fontsize="small")
    if isinstance(transposed, int):
        _draw_transposed(ax_t, conv, k, s, p, op, d, transposed, left)
        ax_t.set_title(
            f"{t_title}: {conv} => {transposed},\n{_round_trip(n, k, s, p, d, transposed)}", fontsize="medium"
        )
        ax_t.set_xlabel(
            "output position (hatched: cropped by padding; number: kernel taps landing there)", fontsize="small"
        )
    else:
        _refused(ax_t, f"{t_title}, on size {conv}", transposed)
    for ax in (ax_conv, ax_t):
        ax.set(xlim=(left, right - 0.4), ylim=(-0.6, TOP + 0.6), yticks=[])
        ax.set_xticks(range(-p, right))
        ax.tick_params(labelsize="x-small", labelbottom=True)
        for spine in ("left", "right", "top"):
            ax.spines[spine].set_visible(False)
    fig.suptitle("A convolution and its transposed convolution connect the same positions, in opposite directions")
    return fig


class _Explorer(widgets.VBox):
    """The explorer's box; in a page that cannot run widgets its text says what it is."""

    def __repr__(self) -> str:
        return "Convolution explorer (interactive: run the notebook to move the sliders)"


def conv_explorer(**defaults: int) -> widgets.VBox:
    """Return sliders, both output sizes and the drawing.

    The sliders are size, kernel_size, stride, padding, output_padding and dilation. `size` is the
    convolution's input size; the transposed convolution runs on the convolution's output.

    Keyword arguments override the sliders' starting values (see `EXPLORER_SLIDERS`).
    """
    unknown = set(defaults) - set(EXPLORER_SLIDERS)
    if unknown:
        raise ValueError(f"unknown slider(s) {sorted(unknown)}; the sliders are {list(EXPLORER_SLIDERS)}")
    sliders = {
        name: widgets.IntSlider(
            value=defaults.get(name, start),
            min=low,
            max=high,
            description=name,
            continuous_update=False,
            style={"description_width": "110px"},
        )
        for name, (low, high, start) in EXPLORER_SLIDERS.items()
    }
    sizes = widgets.HTML()

    def update(**params: int) -> None:
        sizes.value = describe_sizes(**params)
        fig = draw_conv_arithmetic(**params)
        display(fig)
        plt.close(fig)

    drawing = widgets.interactive_output(update, sliders)
    names = list(sliders)
    controls = widgets.HBox(
        [widgets.VBox([sliders[m] for m in names[:3]]), widgets.VBox([sliders[m] for m in names[3:]])]
    )
    return _Explorer([controls, sizes, drawing])
