"""Scale profiles: the lecture's full settings, or a quick run of the same code for CPU tests.

Introduced in lecture 1's config cell. The profile comes from the `AELIB_PROFILE`
environment variable: `full` (also when unset) or `quick`. The test suite sets it
(see tests/conftest.py): `full` when CUDA is available, `quick` otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Profile", "profile", "PROFILES"]

T = TypeVar("T")


@dataclass(frozen=True)
class Profile:
    """How much work a notebook does: epochs and number of training images.

    `num_train=None` means every training image the data source has.
    """

    name: str
    num_epochs: int
    num_train: int | None
    num_test: int | None

    def pick(self, *, full: T, quick: T) -> T:
        """Return `full` or `quick`, whichever belongs to this profile."""
        return full if self.name == "full" else quick


PROFILES = {
    "full": Profile("full", num_epochs=25, num_train=None, num_test=None),
    "quick": Profile("quick", num_epochs=2, num_train=1024, num_test=512),
}


def profile(name: str | None = None) -> Profile:
    """Resolve the scale profile: `name`, else `$AELIB_PROFILE`, else `full`."""
    chosen = name if name is not None else os.environ.get("AELIB_PROFILE", "").strip()
    chosen = (chosen or "full").lower()
    if chosen not in PROFILES:
        raise ValueError(
            f"unknown profile {chosen!r}: expected one of {sorted(PROFILES)}; "
            "set AELIB_PROFILE=full or AELIB_PROFILE=quick (or leave it unset for full)"
        )
    return PROFILES[chosen]
