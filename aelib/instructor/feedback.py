"""Feedback: one Markdown file per submission, for its student, written atomically.

Each file says which lecture the notebook was graded as, each exercise's points and
verdict (the self-check's words: `not yet (<problem>)`), and the notes that concern the
whole notebook (a hang, a renamed lecture). Its path is the grader's choice, never the
submission's: the folder the instructor named, the submission's number in the batch,
and its file name reduced to letters, digits, `-` and `_`.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from .judging import clean
from .reporting import Score, exercise_key

__all__ = ["format_feedback", "feedback_name", "write_feedback"]

_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def _text(text: str, limit: int = 400) -> str:
    """Return text from a submission as one line of Markdown that renders as written (no links, no HTML)."""
    return _MARKDOWN.sub(r"\\\1", clean(text, limit)).replace("&", "&amp;")


def _points(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def format_feedback(score: Score) -> str:
    """Return a submission's feedback as Markdown."""
    lines = [f"# Feedback on {_text(Path(score.submission).name, 120)}", ""]
    if not score.lecture:
        lines += ["Not graded: the grader could not tell which lecture this notebook answers.", ""]
    else:
        lines += [f"Graded as lecture {_text(score.lecture, 40)}: {score.total:g} of {_points(score.max_total)}.", ""]
    exercises = sorted(score.max_points, key=exercise_key)
    notes = [reason for reason in score.reasons if not any(reason.startswith(f"{e}: ") for e in exercises)]
    for exercise in exercises:
        got, most = score.points.get(exercise, 0), score.max_points[exercise]
        reasons = [
            reason.removeprefix(f"{exercise}: ") for reason in score.reasons if reason.startswith(f"{exercise}: ")
        ]
        verdict = "; ".join(reasons) if reasons else ("correct" if got == most else "no points, see the notes")
        lines.append(f"- Exercise {_text(exercise, 40)}, {got:g} of {_points(most)}: {_text(verdict)}")
    if notes:
        lines += ["", "Notes:", ""] + [f"- {_text(note)}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def feedback_name(number: int, score: Score) -> str:
    """Return the file name of a submission's feedback: its number in the batch and a tame version of its name."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(score.submission).stem).strip("_")[:60]
    return f"{number:03d}-{stem or 'submission'}.md"


def write_feedback(scores: list[Score], folder: str | Path) -> list[Path]:
    """Write one feedback file per score into `folder` (made if missing); return their paths, in the scores' order.

    Each file appears complete or not at all: it is written beside its final name under
    another one, then renamed.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number, score in enumerate(scores, start=1):
        out = folder / feedback_name(number, score)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{out.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(format_feedback(score))
            os.chmod(tmp, 0o644)
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(out)
    return written
