"""Scale profiles: the lecture's settings on every image, on fewer images for a CPU, or a quick test run.

Introduced in lecture 1's config cell. The profile comes from the `AELIB_PROFILE`
environment variable: `full`, `cpu` or `quick`; unset means `full` where CUDA is
available and `cpu` where it is not. The test suite sets it (see tests/conftest.py):
`full` with CUDA, `quick` otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

__all__ = ["Profile", "profile", "PROFILES"]

T = TypeVar("T")
_MISSING = object()


@dataclass(frozen=True)
class Profile:
    """How much work a notebook does: epochs and numbers of training and test images.

    `num_train=None` (or `num_test=None`) means every image the data source has.
    `reason` says how the profile was chosen; it is not part of equality.
    """

    name: str
    num_epochs: int
    num_train: int | None
    num_test: int | None
    reason: str = field(default="", compare=False, repr=False)

    def pick(self, *, full: T, quick: T, cpu: T = _MISSING) -> T:  # type: ignore[assignment]
        """Return the value that belongs to this profile; `cpu` defaults to the `full` value."""
        return {"full": full, "cpu": full if cpu is _MISSING else cpu, "quick": quick}[self.name]

    def describe(self, minutes: Mapping[str, float] | None = None) -> str:
        """Return one line: which profile was chosen, why, and how to choose another.

        Args:
            minutes: optional estimates of this lecture's run time per profile on a
                2-core CPU, e.g. {"cpu": 3, "full": 15}; shown where they help choose.
        """
        minutes = minutes or {}

        def about(name: str) -> str:
            return f" (about {minutes[name]:g} minutes on 2 CPU cores)" if name in minutes else ""

        if self.num_train is None and self.num_test is None:
            images = "every training and test image"
        else:
            images = f"{_count(self.num_train)} training and {_count(self.num_test)} test images"
        chosen = (
            f"{self.reason or 'chosen'}: profile '{self.name}', {self.num_epochs} epochs on {images}{about(self.name)}"
        )
        default = "unset AELIB_PROFILE for the default (full with a GPU, cpu without)"
        if self.name == "cpu":
            change = f"set AELIB_PROFILE=full for every image{about('full')}, or open it on Colab with a GPU"
        elif self.name == "full":
            change = f"set AELIB_PROFILE=cpu for fewer images{about('cpu')}, or quick for a smoke test"
        else:
            change = f"a smoke test, not the lecture's results; set AELIB_PROFILE=cpu or full, or {default}"
        return f"{chosen}; {change}"


def _count(n: int | None) -> str:
    return "all" if n is None else f"{n:,}"


PROFILES = {
    "full": Profile("full", num_epochs=25, num_train=None, num_test=None),
    # The lecture's epochs, batch size and optimiser on the first images only, so that
    # each lecture runs in minutes on a 2-core CPU.
    "cpu": Profile("cpu", num_epochs=25, num_train=6_000, num_test=1_000),
    "quick": Profile("quick", num_epochs=2, num_train=1024, num_test=512),
}


def profile(name: str | None = None) -> Profile:
    """Resolve the scale profile: `name`, else `$AELIB_PROFILE`, else `full` with CUDA and `cpu` without."""
    if name is not None:
        chosen, reason = name.strip().lower(), f"profile({name!r})"
    elif os.environ.get("AELIB_PROFILE", "").strip():
        chosen = os.environ["AELIB_PROFILE"].strip().lower()
        reason = f"AELIB_PROFILE={chosen}"
    else:
        import torch  # only here: the rest of this module is plain Python

        chosen, reason = ("full", "GPU found") if torch.cuda.is_available() else ("cpu", "no GPU")
    if chosen not in PROFILES:
        given = f"{name!r}" if name is not None else f"AELIB_PROFILE={os.environ['AELIB_PROFILE']!r}"
        raise ValueError(
            f"unknown profile {chosen!r} (from {given}): expected one of 'full', 'cpu', 'quick'; "
            "set AELIB_PROFILE to one of them, or unset it for full with a GPU and cpu without"
        )
    return replace(PROFILES[chosen], reason=reason)
