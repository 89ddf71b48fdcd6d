"""Fixtures for the Linux driver tests: every kernel object lives in a namespace we created."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.netns import Netns


@pytest.fixture
def ns(netns_factory: Callable[[str], Netns]) -> Netns:
    """One scratch namespace (a "host")."""
    return netns_factory("drv")
