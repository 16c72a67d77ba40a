"""Make the HTML book self-contained and clean: nothing it shows is fetched from another site.

Two things in the notebooks would otherwise need the network when the book is read:

- the "Open in Colab" badge image, which the notebooks link from Colab's site (that is
  right on Colab and GitHub); the book shows a copy shipped in `book/_static/`;
- Jupyter widgets, which myst-nb writes as inert `<script>` tags that only a widget
  manager fetched from a CDN would turn into views (`nb_ipywidgets_js: {}` in
  `_config.yml` turns that off), and even then their controls would do nothing without
  a kernel. Progress bars (tqdm's widgets) are dropped; any other widget becomes a
  short note that sends the reader to the live notebook. Lectures show a static figure
  after each widget.

It also drops the inline scripts that Jupyter Book adds to every page twice, and the
saved widget state that nothing on the page reads; and it loads `exercise_pages`, which
shows the exercises without their solutions.
"""

from __future__ import annotations

import json
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.transforms import SphinxTransform
from sphinx.transforms.post_transforms import SphinxPostTransform

COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "/book/_static/colab-badge.svg"  # from the source root
WIDGET_VIEW = '<script type="application/vnd.jupyter.widget-view+json">'
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}
WIDGET_NOTE = (
    "Interactive widget: it runs only in a live notebook. Open this lecture on Colab "
    "(the badge at the top of the page) or in Jupyter to use it."
)


class LocalColabBadge(SphinxTransform):
    """Point the Colab badge images at the copy shipped with the book."""

    default_priority = 500  # before the images are collected (doctree-read, 880)

    def apply(self, **kwargs) -> None:
        for node in self.document.findall(nodes.image):
            if node["uri"] == COLAB_BADGE:
                node["uri"] = LOCAL_BADGE


def _widget_state(source: str) -> dict[str, dict]:
    """Return the saved widget models of the notebook at `source` (model id -> model), if any."""
    path = Path(source)
    if path.suffix != ".ipynb" or not path.is_file():
        return {}
    metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    return metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _is_progress_bar(model_id: str, state: dict[str, dict], depth: int = 0) -> bool:
    """Return True if the widget `model_id` is, or contains, a progress bar."""
    model = state.get(model_id)
    if model is None or depth > 20:
        return False
    if model.get("model_name") in PROGRESS_MODELS:
        return True
    children = model.get("state", {}).get("children", [])
    return any(_is_progress_bar(str(child).removeprefix("IPY_MODEL_"), state, depth + 1) for child in children)


class ReplaceWidgetViews(SphinxPostTransform):
    """Drop progress-bar widgets and replace every other widget view by a note."""

    default_priority = 400
    formats = ("html",)

    def run(self, **kwargs) -> None:
        views = [node for node in self.document.findall(nodes.raw) if node.astext().startswith(WIDGET_VIEW)]
        if not views:
            return
        state = _widget_state(self.document["source"])
        for node in views:
            view = json.loads(node.astext().removeprefix(WIDGET_VIEW).removesuffix("</script>"))
            if _is_progress_bar(view.get("model_id", ""), state):
                node.parent.remove(node)
            else:
                node.replace_self(nodes.note("", nodes.paragraph(text=WIDGET_NOTE), classes=["widget-placeholder"]))


def clean_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: nodes.document | None) -> None:
    """Keep one copy of each script (Jupyter Book adds some inline ones twice, and a repeated `const` is an error)
    and drop the saved widget state, which no widget manager reads here."""
    unique = {}
    for script in context.get("script_files", []):
        if script.attributes.get("type") != WIDGET_STATE:
            unique.setdefault((script.filename or "", tuple(sorted(script.attributes.items()))), script)
    context["script_files"] = list(unique.values())


def setup(app: Sphinx) -> dict[str, bool]:
    """Register the transforms and the script clean-up."""
    app.add_transform(LocalColabBadge)
    app.add_post_transform(ReplaceWidgetViews)
    app.connect("html-page-context", clean_scripts)
    app.setup_extension("exercise_pages")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
