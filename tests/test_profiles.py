"""Scale profiles: resolution from the environment and the pytest option."""

from __future__ import annotations

import os

import pytest

import aelib


def test_unset_means_full(monkeypatch):
    monkeypatch.delenv("AELIB_PROFILE", raising=False)
    p = aelib.profile()
    assert p.name == "full" and p.num_epochs == 25 and p.num_train is None


def test_quick_is_smaller_but_the_same_shape(monkeypatch):
    monkeypatch.setenv("AELIB_PROFILE", "quick")
    p = aelib.profile()
    assert p.name == "quick" and 1 <= p.num_epochs < 25 and p.num_train is not None
    assert p.pick(full="a", quick="b") == "b"


def test_explicit_name_wins_and_case_is_ignored(monkeypatch):
    monkeypatch.setenv("AELIB_PROFILE", "quick")
    assert aelib.profile("FULL").name == "full"
    assert aelib.profile("full").pick(full=25, quick=2) == 25


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("AELIB_PROFILE", "fast")
    with pytest.raises(ValueError, match=r"unknown profile 'fast'.*AELIB_PROFILE=quick"):
        aelib.profile()


def test_the_test_session_chose_a_profile_by_device(pytestconfig):
    import torch

    chosen = pytestconfig.getoption("--profile") or ("full" if torch.cuda.is_available() else "quick")
    assert os.environ["AELIB_PROFILE"] == chosen
