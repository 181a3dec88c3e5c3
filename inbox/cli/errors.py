"""The ways a command stops on purpose; `main()` prints each as one line with its exit status."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; printed without a traceback (exit status 2)."""


class ConfigError(Exception):
    """A setting that stops the command (exit status 78, EX_CONFIG), printed as one line."""


class PartStopped(Exception):
    """A part of a long-running command (web, SMTP, worker, IMAP, bot) ended without being asked
    to: the whole command stops with exit status 1 rather than run on without it."""
