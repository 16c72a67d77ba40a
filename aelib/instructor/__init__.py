"""The instructor's tools: student copies, Colab links, and grading that treats every submission as hostile.

Students import `aelib`; instructors run these (`aelib-student`, `aelib-repoint`,
`aelib-grade`). No module here imports torch or matplotlib at import time (the judges of
`probes` import torch when they judge); `aelib/__init__.py`, which Python runs first,
still imports both for the students' API.

- `student`: write the student copies of the lectures (solutions out, verdicts cleared).
- `colab`: point every Colab badge, setup cell and launch button at a repository.
- grading, split by job:
  - `submission`: read a submission without trusting it, tell its lecture, and build
    the notebook that runs, with a probe in place of each check cell;
  - `sandbox`: run it under nbval in a bubblewrap sandbox with memory and time caps;
  - `probes`: what each probe asks in the kernel, and how its judge decides here;
  - `judging`: from the probes' answers and nbval's records to points and reasons;
  - `reporting`: the score table and the CSV;
  - `grading`: a batch of submissions, start to end; `cli`: the command line.
"""
