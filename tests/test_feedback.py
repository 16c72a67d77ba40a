"""aelib-grade --feedback: one Markdown file per submission, in the self-check's words, at a path the grader chooses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from aelib.instructor.feedback import feedback_name, format_feedback, write_feedback
from aelib.instructor.reporting import Score

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_DIR = ROOT / "tests" / "fixtures" / "grading"


def _score(submission: str = "submissions/alice.ipynb") -> Score:
    return Score(
        submission,
        "1",
        {"1.1": 0, "1.3": 1, "1.4": 0},
        {"1.1": 1, "1.3": 1, "1.4": 2},
        [
            "handed in as lecture 2 (its file name) but it answers lecture 1: graded as lecture 1",
            "1.1: not yet (that is the slide's formula, the square root of a sum (an L2 norm))",
            "code cell 4 ('import signal') timed out after 15 s",
            "1.4: not yet (your code raised ValueError: <script>alert(1)</script> [click](http://x) | *bold*)",
        ],
    )


def test_each_exercise_gets_its_points_and_verdict_and_the_notes_follow():
    text = format_feedback(_score())
    assert text.splitlines()[:3] == ["# Feedback on alice.ipynb", "", "Graded as lecture 1: 1 of 4 points."]
    assert "- Exercise 1.1, 0 of 1 point: not yet (that is the slide's formula, the square root" in text
    assert "- Exercise 1.3, 1 of 1 point: correct" in text
    assert text.index("Exercise 1.1") < text.index("Exercise 1.3") < text.index("Exercise 1.4") < text.index("Notes:")
    assert "- handed in as lecture 2 (its file name)" in text and "- code cell 4 ('import signal') timed out" in text


def test_text_from_a_submission_renders_as_written():
    line = next(line for line in format_feedback(_score()).splitlines() if "Exercise 1.4" in line)
    assert "<script>" not in line and "[click](" not in line and " | " not in line
    assert r"\<script\>alert(1)\</script\> \[click\](http://x) \| \*bold\*" in line


def test_the_grader_chooses_the_path_whatever_the_submission_is_called(tmp_path):
    names = ["../../outside.ipynb", "/etc/passwd", "a\nb.ipynb", "", ".hidden.ipynb", "x" * 300 + ".ipynb"]
    scores = [_score(name) for name in names] + [Score("never graded.ipynb")]
    written = write_feedback(scores, tmp_path / "feedback")
    assert [p.name for p in written] == [feedback_name(i, s) for i, s in enumerate(scores, start=1)]
    assert sorted(p.name for p in (tmp_path / "feedback").iterdir()) == sorted(p.name for p in written)
    assert [p.name for p in tmp_path.iterdir()] == ["feedback"], "nothing outside the folder, no temporary file left"
    assert written[0].name == "001-outside.md" and written[3].name == "004-submission.md"
    assert all(len(p.name) <= 70 and p.parent == tmp_path / "feedback" for p in written)
    assert written[-1].read_text() == (
        "# Feedback on never graded.ipynb\n\n"
        "Not graded: the grader could not tell which lecture this notebook answers.\n"
    )


def test_the_command_line_writes_one_file_per_submission(tmp_path):
    (tmp_path / "empty.ipynb").write_bytes(b"")
    (tmp_path / "grading_fixture_damaged.ipynb").write_text("not json")
    out, feedback = tmp_path / "out" / "scores.csv", tmp_path / "out" / "feedback"
    out.parent.mkdir()
    args = [str(tmp_path / "empty.ipynb"), str(tmp_path / "grading_fixture_damaged.ipynb")]
    args += ["--lectures", str(FIXTURE_DIR), "--out", str(out), "--feedback", str(feedback), "--no-sandbox"]
    run = subprocess.run(
        [sys.executable, "-m", "aelib.instructor.cli", *args], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in feedback.iterdir()) == ["001-empty.md", "002-grading_fixture_damaged.md"]
    damaged = (feedback / "002-grading_fixture_damaged.md").read_text()
    assert "Graded as lecture fixture: 0 of 4 points." in damaged
    assert "- Exercise 1.4, 0 of 2 points: no points, see the notes" in damaged
    assert "- not valid JSON at line 1" in damaged
