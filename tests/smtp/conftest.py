"""Fixtures for the sans-I/O SMTP core tests."""

from __future__ import annotations

import pytest

from tests.smtp.transcript import Transcript


@pytest.fixture
def t() -> Transcript:
    """A greeted connection with default options."""
    return Transcript()
