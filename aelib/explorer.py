"""An interactive explorer of convolution arithmetic, and its static drawing (lecture 2).

`draw_conv_arithmetic` draws, along one dimension, where the kernel of a convolution
and of a transposed convolution lands; `conv_explorer` puts sliders on it. A 2-D layer
does the same along rows and along columns. The explorer uses only widgets that
ipywidgets 7 (Colab) and 8 both have; a static book shows the drawing instead.
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

# name: (minimum, maximum, default); the default is the decoder layer of lecture 3 (7 => 14).
EXPLORER_SLIDERS = {
    "size": (1, 12, 7),
    "kernel_size": (1, 6, 3),
    "stride": (1, 4, 2),
    "padding": (0, 4, 1),
    "output_padding": (0, 3, 1),
    "dilation": (1, 3, 1),
}


def _sizes(size: int, kernel_size: int, stride: int, padding: int, output_padding: int, dilation: int) -> tuple[int | str, int | str]:
    """Return (conv output size, transposed conv output size), each an int or the reason PyTorch refuses."""
    try:
        conv = conv_output_size(size, kernel_size, stride, padding, dilation)
    except ValueError as err:
        conv = str(err)
    try:
        transposed = conv_transpose_output_size(size, kernel_size, stride, padding, output_padding, dilation)
    except ValueError as err:
        transposed = str(err)
    return conv, transposed


def describe_sizes(size: int, kernel_size: int, stride: int, padding: int, output_padding: int, dilation: int) -> str:
    """Return an HTML paragraph with both output sizes and their formulas filled in (or why PyTorch refuses)."""
    n, k, s, p, op, d = size, kernel_size, stride, padding, output_padding, dilation
    conv, transposed = _sizes(n, k, s, p, op, d)
    conv_text = (
        f"&lfloor;({n} + 2&middot;{p} &minus; {d}&middot;({k} &minus; 1) &minus; 1) / {s}&rfloor; + 1 = <b>{conv}</b>"
        if isinstance(conv, int) else f"<i>PyTorch refuses</i>: {html.escape(conv)}"
    )
    transposed_text = (
        f"({n} &minus; 1)&middot;{s} &minus; 2&middot;{p} + {d}&middot;({k} &minus; 1) + {op} + 1 = <b>{transposed}</b>"
        if isinstance(transposed, int) else f"<i>PyTorch refuses</i>: {html.escape(transposed)}"
    )
    return (
        f"<p>Input size {n} (per dimension). <code>Conv2d</code> (output_padding unused): {conv_text}<br>"
        f"<code>ConvTranspose2d</code>: {transposed_text}</p>"
    )


def _cell(ax: Axes, x: float, y: float, label: str, face: str, hatch: str | None = None, edge: str = "0.3") -> None:
    ax.add_patch(Rectangle((x - 0.45, y - 0.45), 0.9, 0.9, facecolor=face, edgecolor=edge, hatch=hatch, linewidth=0.8))
    if label:
        ax.text(x, y, label, ha="center", va="center", fontsize="x-small")


def _refused(ax: Axes, title: str, reason: str) -> None:
    ax.set_title(title, fontsize="medium")
    ax.text(0.5, 0.5, "PyTorch refuses these parameters:\n" + textwrap.fill(reason, 100), ha="center", va="center",
            transform=ax.transAxes, color="firebrick", fontsize="small")
    ax.axis("off")


def _draw_conv(ax: Axes, n: int, k: int, s: int, p: int, d: int, out: int) -> None:
    for x in range(-p, n + p):
        padded = x < 0 or x >= n
        _cell(ax, x, 0, "0" if padded else str(x), "0.9" if padded else "white", "//" if padded else None)
    colors = plt.cm.tab10.colors
    for o in range(out):
        y = -1.2 - 0.8 * o
        taps = [o * s - p + j * d for j in range(k)]
        ax.plot([taps[0], taps[-1]], [y, y], color=colors[o % 10], linewidth=1.5)
        ax.plot(taps, [y] * k, "s", color=colors[o % 10], markersize=6)
        ax.text(-p - 0.8, y, f"out {o}", ha="right", va="center", fontsize="x-small")
    ax.set(xlim=(-p - 2.6, n + p), ylim=(-1.2 - 0.8 * out, 0.8), yticks=[], xlabel="input position (hatched: zero padding)")
    ax.set_xticks(range(-p, n + p))
    ax.tick_params(labelsize="x-small")


def _draw_transposed(ax: Axes, n: int, k: int, s: int, p: int, op: int, d: int, out: int) -> None:
    full = (n - 1) * s + d * (k - 1) + 1  # before padding crops p positions at each end
    counts = [0] * max(full, p + out)
    for i in range(n):
        for j in range(k):
            counts[i * s + j * d] += 1
    top = max(counts)
    colors = plt.cm.tab10.colors
    for i in range(n):
        x_in = i * s + d * (k - 1) / 2
        for j in range(k):
            ax.plot([x_in, i * s + j * d], [2.55, 0.45], color=colors[i % 10], linewidth=0.8, alpha=0.8)
        _cell(ax, x_in, 3, str(i), "white", edge=colors[i % 10])
    for t, c in enumerate(counts):
        kept = p <= t < p + out
        face = plt.cm.viridis(0.25 + 0.75 * c / top) if kept else "0.9"
        _cell(ax, t, 0, str(c), face, None if kept else "//")
    ax.text(-0.6, 3, "input", ha="right", va="center", fontsize="x-small")
    ax.text(-0.6, 0, "taps", ha="right", va="center", fontsize="x-small")
    ax.set(xlim=(-2.6, len(counts)), ylim=(-0.8, 3.8), yticks=[],
           xlabel="output position (hatched: cropped by padding; number in a cell: kernel taps landing there)")
    ax.set_xticks(range(len(counts)), [str(t - p) if p <= t < p + out else "" for t in range(len(counts))])
    ax.tick_params(labelsize="x-small")


def draw_conv_arithmetic(size: int = 7, kernel_size: int = 3, stride: int = 2, padding: int = 1, output_padding: int = 1, dilation: int = 1) -> Figure:
    """Draw, along one dimension, where the kernel lands in a convolution (top) and a transposed convolution (bottom)."""
    n, k, s, p, op, d = size, kernel_size, stride, padding, output_padding, dilation
    conv, transposed = _sizes(n, k, s, p, op, d)
    rows = conv if isinstance(conv, int) else 2
    fig, (ax_conv, ax_t) = plt.subplots(2, 1, figsize=(10, 3.2 + 0.3 * (1.2 + 0.8 * rows)), height_ratios=[1.2 + 0.8 * rows, 4.6], layout="constrained")
    conv_title = f"Conv: input {n} (+{p} padding each side), kernel {k}, stride {s}, dilation {d}"
    if isinstance(conv, int):
        _draw_conv(ax_conv, n, k, s, p, d, conv)
        ax_conv.set_title(f"{conv_title} => output {conv}", fontsize="medium")
    else:
        _refused(ax_conv, conv_title, conv)
    t_title = f"ConvTranspose: input {n}, kernel {k}, stride {s}, padding {p}, output_padding {op}, dilation {d}"
    if isinstance(transposed, int):
        _draw_transposed(ax_t, n, k, s, p, op, d, transposed)
        ax_t.set_title(f"{t_title} => output {transposed}", fontsize="medium")
    else:
        _refused(ax_t, t_title, transposed)
    for ax in (ax_conv, ax_t):
        for spine in ("left", "right", "top"):
            ax.spines[spine].set_visible(False)
    fig.suptitle("Where the kernel lands, along one dimension")
    return fig


class _Explorer(widgets.VBox):
    """The explorer's box; in a page that cannot run widgets its text says what it is."""

    def __repr__(self) -> str:
        return "Convolution explorer (interactive: run the notebook to move the sliders)"


def conv_explorer(**defaults: int) -> widgets.VBox:
    """Return sliders for size, kernel_size, stride, padding, output_padding and dilation, both output sizes and the drawing.

    Keyword arguments override the sliders' starting values (see `EXPLORER_SLIDERS`).
    """
    unknown = set(defaults) - set(EXPLORER_SLIDERS)
    if unknown:
        raise ValueError(f"unknown slider(s) {sorted(unknown)}; the sliders are {list(EXPLORER_SLIDERS)}")
    sliders = {
        name: widgets.IntSlider(value=defaults.get(name, start), min=low, max=high, description=name, continuous_update=False,
                                style={"description_width": "110px"})
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
    controls = widgets.HBox([widgets.VBox([sliders[m] for m in names[:3]]), widgets.VBox([sliders[m] for m in names[3:]])])
    return _Explorer([controls, sizes, drawing])
