"""The instructor's tools: student copies, Colab links, and grading that treats every submission as hostile.

Students import `aelib`; instructors run these (`aelib-student`, `aelib-repoint`,
`aelib-grade`). No module here imports torch or matplotlib at import time (grading
imports torch when it loads answers and judges them); `aelib/__init__.py`, which Python
runs first, imports neither until a student's name is used. The exercises themselves,
each defined once for the self-check and the grader, live in `aelib.exercises`.

- `student`: write the student copies of the lectures (solutions out, verdicts cleared).
- `colab`: point every Colab badge, setup cell and launch button at a repository.
- grading, split by job:
  - `submission`: read a submission without trusting it, tell its lecture, and build
    the notebook that runs, with a probe in place of each check cell;
  - `sandbox`: run it under nbval in a bubblewrap sandbox (`bwrap`: its command line;
    `limits`: its caps; `processes`: its process tree, memory and output);
  - `plugin`: nbval's records of each cell, written for the grader;
  - `probes`: the exercise's probe in the kernel, its saved answers loaded and judged here;
  - `judging`: from the probes' answers and nbval's records to points and reasons;
  - `reporting`: the score table and the CSV; `feedback`: one Markdown file per student;
  - `grading`: a batch of submissions, start to end; `cli`: the command line.
"""
