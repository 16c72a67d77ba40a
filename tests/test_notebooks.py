"""Every lecture notebook is committed executed, error-free, with checked cells and no widget junk."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("*.ipynb"))
JUNK = ("HBox(children", "Failed to display Jupyter Widget", "<Figure size", "Traceback (most recent call last)")


@pytest.fixture(params=LECTURES, ids=[p.name for p in LECTURES])
def notebook(request) -> nbformat.NotebookNode:
    return nbformat.read(request.param, as_version=4)


def _text(output) -> str:
    """The text a reader sees: streams, and text/plain where nothing richer (an image) is shown."""
    if output.output_type == "stream":
        return output.text
    data = output.get("data", {})
    return str(data.get("text/plain", "")) if set(data) <= {"text/plain"} else ""


def test_the_book_lists_every_lecture_and_only_those():
    """The book builds only the pages of _toc.yml: a lecture missing there would silently vanish from it."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    listed = [page for page in chapters if page.startswith("lectures/")]
    assert LECTURES, "no lecture notebooks found"
    assert listed == [f"lectures/{path.stem}" for path in LECTURES]


def test_every_code_cell_was_executed_and_stored(notebook):
    code = [c for c in notebook.cells if c.cell_type == "code"]
    unexecuted = [c.source.splitlines()[0] for c in code if c.execution_count is None]
    assert not unexecuted, f"run `make outputs`: cells without stored execution: {unexecuted}"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "outputs must come from one top-to-bottom run"


def test_no_stored_errors_or_widget_junk(notebook):
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"stored error {output.get('ename')} in: {cell.source[:80]}"
            assert not any(j in _text(output) for j in JUNK), f"junk output in: {cell.source[:80]}"


def test_at_least_three_checked_cells_with_output(notebook):
    checked = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith("# NBVAL_CHECK_OUTPUT")]
    assert len(checked) >= 3
    assert all(c.outputs for c in checked), "a checked cell must have a stored output to compare with"
    for cell in checked:  # nothing that changes between machines or library versions
        for output in cell.outputs:
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            assert "<Figure size" not in text and "cuda" not in text, f"machine-dependent output in: {cell.source[:80]}"


def test_skeleton(notebook):
    markdown = [c.source for c in notebook.cells if c.cell_type == "markdown"]
    assert markdown[0].startswith("# ") and "colab-badge.svg" in markdown[0]
    assert "colab-setup" in notebook.cells[1].metadata.get("tags", [])
    assert any(s.startswith("## Summary") for s in markdown)
    assert any("## Exercises" in s for s in markdown)
