"""The two ways a command stops on purpose; `main()` prints each as one line with its exit status."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; printed without a traceback (exit status 2)."""


class ConfigError(Exception):
    """A setting that stops the command (exit status 78, EX_CONFIG), printed as one line."""
