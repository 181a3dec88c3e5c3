"""A real Dovecot for the IMAP tests: its own configuration, maildir and port on loopback.

Debian's `dovecot-imapd` (`.ci/run` installs it); the system's Dovecot service is not used. The
instance runs as root with mail stored as the `mail` user (Dovecot refuses mail access as root)
and its login processes as `dovenull`. With `tls=True` it also listens for imaps and offers
STARTTLS, with a self-signed certificate made here.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import psutil
from imapclient import IMAPClient

from mail.imap_config import ImapConfig

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
USER = "synpunkt@kommun.example"
PASSWORD = "hemligt l0sen & mer"  # imaplib sends LOGIN in ASCII
MAIL_USER = "mail"  # exists on every Debian system


def available() -> bool:
    return os.path.exists(DOVECOT) and os.path.exists(DOVEADM) and os.geteuid() == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _login_user() -> str:
    for name in ("dovenull", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("no unprivileged user for Dovecot's login processes")


class Dovecot:
    def __init__(self, *, tls: bool = False, capabilities: str | None = None) -> None:
        """`capabilities`: what the server announces after login instead of its own list (a
        server without IDLE or MOVE, say); Dovecot still understands every command."""
        self.tls = tls
        self.capabilities = capabilities
        # Not pytest's tmp_path: its parents are private to root, and Dovecot's mail processes
        # (as `mail`) must reach the maildir.
        self.root = Path(tempfile.mkdtemp(prefix="synpunkt-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.config = self.root / "dovecot.conf"
        self.log = self.root / "dovecot.log"
        self.maildir = self.root / "mail" / USER
        self.process: subprocess.Popen[bytes] | None = None
        self.cafile: Path | None = None
        self._write_config()

    # Life cycle -------------------------------------------------------------------------------

    def _write_config(self) -> None:
        root = self.root
        for name in ("run", "state"):
            (root / name).mkdir(exist_ok=True)
        mail = root / "mail"
        mail.mkdir(exist_ok=True)
        entry = pwd.getpwnam(MAIL_USER)
        os.chown(mail, entry.pw_uid, entry.pw_gid)
        (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:::\n")
        ssl_lines = "ssl = no\n"
        imaps = "  inet_listener imaps {\n    port = 0\n  }\n"
        if self.tls:
            cert, key = self._certificate()
            ssl_lines = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n"
            imaps = (
                "  inet_listener imaps {\n"
                f"    address = 127.0.0.1\n    port = {self.tls_port}\n    ssl = yes\n  }}\n"
            )
        self.config.write_text(
            f"""# Written by tests/mail/dovecot.py
base_dir = {root}/run
state_dir = {root}/state
instance_name = synpunkt-test-{self.port}
log_path = {self.log}
listen = 127.0.0.1
protocols = imap
{ssl_lines}disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = root
default_internal_group = root
default_login_user = {_login_user()}
first_valid_uid = 1
first_valid_gid = 1
mail_uid = {MAIL_USER}
mail_gid = {MAIL_USER}
mail_location = maildir:{root}/mail/%u
imap_idle_notify_interval = 30 secs
{f"imap_capability = {self.capabilities}" if self.capabilities else ""}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {root}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
{imaps}}}
"""
        )

    def _certificate(self) -> tuple[Path, Path]:
        cert, key = self.root / "cert.pem", self.root / "key.pem"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", str(key), "-out", str(cert), "-days", "2",
                "-subj", "/CN=localhost",
                "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        self.cafile = cert
        return cert, key

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode() if self.process.stderr else ""
                self.stop()
                raise RuntimeError(f"dovecot exited: {stderr}\n{self.log_text()}")
            try:
                with IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=5) as probe:
                    probe.login(USER, PASSWORD)
                return
            except Exception as exc:
                error = exc
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dovecot did not start: {error!r}\n{self.log_text()}")

    def stop(self) -> None:
        """Stops the master and every process it started: on SIGTERM the master leaves an imap
        process that serves an IDLE client behind, so its clients are cut off here too."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            children = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        psutil.wait_procs(children, timeout=10)
        if process.stderr:
            process.stderr.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_text(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text[-4000:]

    # What the tests do to the server ----------------------------------------------------------

    def kick(self) -> None:
        """Drops every IMAP session of the user (the server hangs up mid-session)."""
        subprocess.run(
            [DOVEADM, "-c", str(self.config), "kick", USER], check=True, capture_output=True
        )

    def new_uidvalidity(self) -> None:
        """Gives INBOX a new UIDVALIDITY and renumbers its messages from 1, as a restored or
        migrated mailbox does: Dovecot stopped, its UID list and indexes removed."""
        running = self.process is not None
        self.stop()
        for path in self.maildir.glob("dovecot-uidlist"):
            path.unlink()
        for path in self.maildir.glob("dovecot.index*"):
            path.unlink()
        if running:
            self.start()

    @contextlib.contextmanager
    def client(self) -> Iterator[IMAPClient]:
        with IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=30) as client:
            client.login(USER, PASSWORD)
            yield client

    def append(self, messages: Iterable[bytes], folder: str = "INBOX") -> None:
        batch: list[bytes] = []
        with self.client() as client:
            if not client.has_capability("MULTIAPPEND"):
                for raw in messages:
                    client.append(folder, raw)
                return
            for raw in messages:
                batch.append(raw)
                if len(batch) >= 100:
                    client.multiappend(folder, batch)
                    batch = []
            if batch:
                client.multiappend(folder, batch)

    def folders(self) -> list[str]:
        with self.client() as client:
            return [name for _flags, _delimiter, name in client.list_folders()]

    def count(self, folder: str = "INBOX") -> int:
        with self.client() as client:
            if not client.folder_exists(folder):
                return 0
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

    def message_ids(self, folder: str) -> list[str]:
        """The Message-ID header of every message in `folder` (None for those without)."""
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return []
            fetched = client.fetch(uids, [b"BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
        ids = []
        for data in fetched.values():
            header = data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().strip()
            ids.append(header.partition(":")[2].strip().strip("<>"))
        return sorted(ids)

    def ssl_context(self) -> ssl.SSLContext:
        assert self.cafile is not None
        return ssl.create_default_context(cafile=str(self.cafile))


def config_for(server: Dovecot, **changes: object) -> ImapConfig:
    """The poller's configuration for `server`, with short waits for tests; `changes` override."""
    config = ImapConfig(
        host="127.0.0.1",
        port=server.port,
        user=USER,
        password=PASSWORD,
        tls="starttls",
        require_tls=False,
        idle_seconds=5,
        poll_seconds=0.5,
        timeout=10,
        backoff_initial=0.1,
        backoff_max=1.0,
        lock_retry_seconds=0.2,
        lock_check_seconds=0.5,
    )
    return replace(config, **changes)  # type: ignore[arg-type]
