"""Test support code: channel fixtures and a real HTTP channel server. Imports nothing from ``cenv``."""

from tests.support.realdata import REALDATA

__all__ = ["REALDATA"]
