"""aelib's widgets under ipywidgets 7 (what Colab ships) as well as 8 (what we pin).

Each version runs in a real Jupyter kernel (nbclient, widget state stored, as `make
outputs` does; started as `aelib.instructor.kernels` starts kernels, so that one that hangs
is found in seconds): the convolution explorer is built, displayed and driven through its
sliders, and a training run shows its tqdm progress bar. The set-up step of `make test`
(tests/prepare_env.py) installs each ipywidgets 7 into a folder beside the environment;
here it is put first on the kernel's PYTHONPATH, so these tests need no package registry.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from aelib.instructor.kernels import execute_notebook
from prepare_env import IPYWIDGETS_7, widgets_folder

ROOT = Path(__file__).resolve().parents[1]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

CELLS = [
    # 0: which ipywidgets the kernel sees
    "import os\nimport ipywidgets\nimport torch\nimport aelib\nfrom aelib.explorer import conv_explorer\n"
    "print('ipywidgets', ipywidgets.__version__)",
    # 1: the explorer, displayed
    "explorer = conv_explorer()\nexplorer",
    # 2: drive it: every slider, then check the sizes text followed
    "def walk(w):\n"
    "    yield w\n"
    "    for child in getattr(w, 'children', ()):\n"
    "        yield from walk(child)\n"
    "sliders = {w.description: w for w in walk(explorer) if isinstance(w, ipywidgets.IntSlider)}\n"
    "(sizes,) = [w for w in walk(explorer) if isinstance(w, ipywidgets.HTML)]\n"
    "before = sizes.value\n"
    "sliders['stride'].value = 1\n"
    "sliders['kernel_size'].value = 4\n"
    "print('sliders', sorted(sliders))\n"
    "print('sizes text changed', sizes.value != before, 'stride 1' in sizes.value or '1 =' in sizes.value)",
    # 3: a training run in a kernel shows a progress bar
    "os.environ['AELIB_PROGRESS'] = '1'\n"
    "model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 16), torch.nn.Unflatten(1, (1, 4, 4)))\n"
    "history = aelib.train_autoencoder(model, torch.rand(32, 1, 4, 4), num_epochs=2, batch_size=16, device='cpu')\n"
    "print('epochs', len(history.train_loss))",
    # 4: AELIB_PROGRESS=0 (tests, `make outputs`) turns the bar off
    "os.environ['AELIB_PROGRESS'] = '0'\n"
    "history = aelib.train_autoencoder(model, torch.rand(32, 1, 4, 4), num_epochs=2, batch_size=16, device='cpu')\n"
    "print('epochs', len(history.train_loss))",
]


def _static_book():
    """Import book/_ext/static_book.py, the book's widget fallback, to judge saved widgets as the book does."""
    spec = importlib.util.spec_from_file_location("static_book", ROOT / "book" / "_ext" / "static_book.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ipywidgets_7(version: str) -> Path:
    """Return the folder where the set-up step installed ipywidgets `version`."""
    folder = widgets_folder(version)
    if not (folder / ".complete").is_file():
        pytest.skip(
            f"ipywidgets {version} is not installed in {folder}: run `make test` (or `python tests/prepare_env.py`)"
        )
    return folder


@pytest.fixture(scope="module", params=[*IPYWIDGETS_7, "installed"])
def run(request, tmp_path_factory):
    """Execute CELLS in a kernel with the requested ipywidgets; return (expected major, executed notebook)."""
    env = {**os.environ, "AELIB_PROGRESS": "1", "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    if request.param == "installed":
        import ipywidgets

        major = ipywidgets.__version__.split(".")[0]
    else:
        major = "7"
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_ipywidgets_7(request.param)), env.get("PYTHONPATH")]))
    nb = new_notebook(cells=[new_code_cell(source) for source in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    workdir = tmp_path_factory.mktemp("widgets")
    execute_notebook(nb, timeout=300, cwd=str(workdir), env=env, store_widget_state=True)
    return major, nb


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def _views(cell) -> list[str]:
    return [o.data[WIDGET_VIEW]["model_id"] for o in cell.outputs if WIDGET_VIEW in o.get("data", {})]


def _state(nb) -> dict[str, dict]:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def test_kernel_uses_requested_ipywidgets(run):
    major, nb = run
    assert re.search(rf"^ipywidgets {major}\.", _text(nb.cells[0]), re.MULTILINE), _text(nb.cells[0])


def test_cells_run_without_errors_or_warnings(run):
    _, nb = run
    for index, cell in enumerate(nb.cells[:3]):
        noise = [
            o for o in cell.outputs if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")
        ]
        assert noise == [], f"cell {index} printed errors or warnings: {noise}"


def test_explorer_displays_as_widget_and_follows_its_sliders(run):
    _, nb = run
    (view,) = _views(nb.cells[1])
    assert view in _state(nb), "the explorer's widget state was not saved"
    assert _text(nb.cells[2]) == (
        "sliders ['dilation', 'kernel_size', 'output_padding', 'padding', 'size', 'stride']\n"
        "sizes text changed True True\n"
    )


def test_explorer_drawing_is_saved_in_widget_state(run):
    _, nb = run
    outputs = [m for m in _state(nb).values() if m["model_name"] == "OutputModel"]
    assert outputs, "the explorer has no Output widget in its saved state"
    images = [o for m in outputs for o in m["state"].get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the explorer's drawing did not reach its Output widget's saved state"


def test_progress_bar_only_when_interactive(run):
    _, nb = run
    static_book = _static_book()
    state = _state(nb)
    (bar,) = _views(nb.cells[3])
    assert static_book._is_progress_bar(bar, state), "training in a kernel should show tqdm's widget progress bar"
    assert _views(nb.cells[4]) == [], "AELIB_PROGRESS=0 must turn the progress bar off"
    (explorer,) = _views(nb.cells[1])
    assert not static_book._is_progress_bar(explorer, state), (
        "the book would drop the explorer as if it were a progress bar"
    )
    assert _text(nb.cells[3]) == _text(nb.cells[4]) == "epochs 2\n"


def test_static_book_replaces_widgets(tmp_path):
    static_book = _static_book()
    nb = new_notebook()
    nb.metadata["widgets"] = {
        WIDGET_STATE: {
            "state": {
                "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_label", "IPY_MODEL_progress"]}},
                "label": {"model_name": "HTMLModel", "state": {}},
                "progress": {"model_name": "FloatProgressModel", "state": {}},
                "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_label"]}},
            }
        }
    }
    path = tmp_path / "page.ipynb"
    path.write_text(json.dumps(nb))
    state = static_book._widget_state(str(path))
    assert static_book._is_progress_bar("bar", state)
    assert not static_book._is_progress_bar("box", state)
    assert not static_book._is_progress_bar("unknown", state)
    assert static_book._widget_state(str(tmp_path / "page.md")) == {}
