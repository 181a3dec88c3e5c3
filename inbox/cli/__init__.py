"""The `synpunkt` command and the composition root: the one place that reads settings and wires
the hub to its adapters (mail over SMTP and IMAP, the Telegram bot).

- `main`: the parser and `main()`, the `synpunkt` entry point;
- `wiring`: the parts built from `Settings` (policies, parsers, senders, worker, bot, web app);
- `run`: the long-running commands and their processes, signals and clean stops;
- `commands`: the admin commands (db, users, units, tokens, decisions);
- `demo`: `synpunkt demo` and its sample mails;
- `errors`: the errors a command stops with.
"""

from inbox.cli.main import main

__all__ = ["main"]
