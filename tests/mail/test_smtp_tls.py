"""STARTTLS on the intake listener: offered with a certificate, never required, and a certificate
that will not load stops the command with one line (exit status 78)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import aiosmtplib
import pytest

from mail.smtp_session import tls_context
from tests.conftest import Clock, Database
from tests.mail.certificates import Certificate, self_signed
from tests.mail.smtp_env import INTAKE, SENDER, ledger_rows, mail, smtp_server


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return self_signed(tmp_path)


async def test_mail_sent_after_starttls_is_encrypted_and_stored(
    db: Database, clock: Clock, certificate: Certificate
) -> None:
    tls = tls_context(str(certificate.cert), str(certificate.key))
    async with smtp_server(db.sessions, clock, tls=tls) as port:
        smtp = aiosmtplib.SMTP(
            hostname="127.0.0.1",
            port=port,
            start_tls=True,
            tls_context=certificate.client_context(),  # verifies the listener's certificate
            timeout=30,
        )
        async with smtp:
            cipher = smtp.get_transport_info("cipher")
            await smtp.ehlo()
            extensions = set(smtp.esmtp_extensions)
            errors, reply = await smtp.sendmail(SENDER, [INTAKE], mail("tls@example.org"))
    assert cipher is not None
    assert errors == {} and reply == "2.0.0 OK"
    assert "starttls" not in extensions  # once is enough (RFC 3207)
    assert "auth" not in extensions  # an intake takes mail; nobody signs in to it
    assert [row.external_id for row in await ledger_rows(db.sessions)] == ["tls@example.org"]


async def test_a_server_that_cannot_encrypt_is_still_accepted_in_plain(
    db: Database, clock: Clock, certificate: Certificate
) -> None:
    tls = tls_context(str(certificate.cert), str(certificate.key))
    async with smtp_server(db.sessions, clock, tls=tls) as port:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        async with smtp:
            await smtp.ehlo()
            offered = smtp.supports_extension("starttls")
            errors, _ = await smtp.sendmail(SENDER, [INTAKE], mail("plain@example.org"))
    assert offered
    assert errors == {}
    assert [row.external_id for row in await ledger_rows(db.sessions)] == ["plain@example.org"]


async def test_without_a_certificate_starttls_is_not_offered(db: Database, clock: Clock) -> None:
    async with smtp_server(db.sessions, clock) as port:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=30)
        async with smtp:
            await smtp.ehlo()
            assert not smtp.supports_extension("starttls")


def test_a_key_that_does_not_belong_to_the_certificate_is_refused(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first, second = self_signed(tmp_path / "one"), self_signed(tmp_path / "two")
    with pytest.raises(ValueError, match="cannot load the SMTP TLS certificate"):
        tls_context(str(first.cert), str(second.key))


def run_smtp_command(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SYNPUNKT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "SYNPUNKT_SMTP_LISTEN": "127.0.0.1:0",
        **{f"SYNPUNKT_{name.upper()}": value for name, value in settings.items()},
    }
    return subprocess.run(
        [sys.executable, "-m", "inbox.cli", "smtp"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize("problem", ["missing file", "not a certificate", "key not set"])
def test_a_tls_setting_that_will_not_load_stops_smtp_with_one_line_and_78(
    tmp_path: Path, certificate: Certificate, problem: str
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    settings = {
        "missing file": {"smtp_tls_cert": str(tmp_path / "nix.pem"), "smtp_tls_key": "nix.key"},
        "not a certificate": {"smtp_tls_cert": str(garbage), "smtp_tls_key": str(garbage)},
        "key not set": {"smtp_tls_cert": str(certificate.cert)},
    }[problem]
    result = run_smtp_command(tmp_path, **settings)
    assert result.returncode == 78, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "SYNPUNKT_SMTP_TLS_" in result.stderr
