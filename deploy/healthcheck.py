"""The Docker image's HEALTHCHECK: asks the part that runs in this container. `serve` and `web`:
GET /readyz must answer 200 (the process answers, its database too, at the schema it needs);
`smtp`: the listener must greet with 220. The other parts (`worker`, `imap`, `bot`, `db upgrade`)
listen on nothing; each stops its process when it fails, so a running container is a healthy one.
Exit status 0 for healthy, 1 for unhealthy, as Docker expects.

Not /healthz: it answers 503 for problems elsewhere (a stopped worker, an old backlog), which
restarting this container would not mend; monitoring asks /healthz.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT = 4.0


def part(cmdline: list[str]) -> str:
    """The `synpunkt` subcommand in a command line (`tini -- synpunkt web` → `web`), or ''."""
    for index, word in enumerate(cmdline[:-1]):
        if Path(word).name == "synpunkt":
            return cmdline[index + 1]
    return ""


def local_address(listen: str, default_port: int) -> tuple[str, int]:
    """Where to reach a `host:port` listen setting from inside the container."""
    host, _, port = listen.strip().rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return host, int(port or default_port)


def web_ok(listen: str) -> bool:
    host, port = local_address(listen, 8000)
    if ":" in host:
        host = f"[{host}]"
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/readyz", timeout=TIMEOUT) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def smtp_ok(listen: str) -> bool:
    try:
        with socket.create_connection(local_address(listen, 8025), timeout=TIMEOUT) as sock:
            greeting = sock.recv(512)
            sock.sendall(b"QUIT\r\n")
            return greeting.startswith(b"220")
    except OSError:
        return False


def healthy(cmdline: list[str], env: dict[str, str]) -> bool:
    name = part(cmdline)
    if name in ("serve", "web") and not web_ok(env.get("SYNPUNKT_WEB_LISTEN", "127.0.0.1:8000")):
        return False
    if name in ("serve", "smtp"):
        return smtp_ok(env.get("SYNPUNKT_SMTP_LISTEN", "127.0.0.1:8025"))
    return True


def main() -> int:
    cmdline = Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")
    return 0 if healthy(cmdline, dict(os.environ)) else 1


if __name__ == "__main__":
    sys.exit(main())
