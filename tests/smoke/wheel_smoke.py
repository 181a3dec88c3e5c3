"""Smoke test of an installed Synpunkt: the wheel in a fresh virtual environment, as in the Docker
image. Every command's `--help`; the admin commands on a fresh SQLite database; `synpunkt serve` with
every page fetched (the staff pages after signing in, every static file they use, `/docs`, a real
check-in link from a sent mail, the API with a token); the parts alone, as docker-compose runs them;
each long-running command must stop on SIGTERM with exit status 0.

Run it with the installed environment's Python, from anywhere (it works in a temporary folder):
`VENV/bin/python tests/smoke/wheel_smoke.py`; `tests/smoke/wheel.sh` builds the wheel and the
environment first. Standard library only, and it never imports the source tree. Any 5xx, missing
file, traceback in a log or unexpected exit status stops it with exit status 1 and the reason.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import email
import email.policy
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from http.cookiejar import CookieJar
from pathlib import Path

SOURCE_TREE = Path(__file__).resolve().parents[2]
PASSWORD = "smoke-test-password-1"
CRAWL_LIMIT = 200  # pages and files fetched from the staff pages' links, at most
# Public pages that need no token in the address; those not built yet answer 404 and are skipped.
PUBLIC_PAGES = ("/synpunkt", "/synpunkt/folj", "/resultat", "/integritet", "/tillganglighet")


class SmokeFailure(Exception):
    """What went wrong, in one line; the run stops there."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


_STARTED = time.monotonic()
VERBOSE = False


def step(text: str) -> None:
    print(f"smoke: {time.monotonic() - _STARTED:5.1f} s  {text}", flush=True)


# Commands -----------------------------------------------------------------------------------------


@dataclass
class Installation:
    """The installed `synpunkt` and the empty folder it runs in, with a clean environment."""

    synpunkt: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None, expect: int = 0
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.synpunkt), *args],
            cwd=self.workdir,
            env=self.env | (env or {}),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        check(
            result.returncode == expect,
            f"`synpunkt {' '.join(args)}` exited with {result.returncode}, not {expect}:\n"
            f"{result.stdout}{result.stderr}",
        )
        check("Traceback" not in result.stderr, f"`synpunkt {' '.join(args)}`:\n{result.stderr}")
        return result


def clean_environment(workdir: Path) -> dict[str, str]:
    """The caller's environment without its Synpunkt settings or Python paths: only defaults."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SYNPUNKT_", "PYTHON", "VIRTUAL_ENV"))
    }
    return env | {"HOME": str(workdir), "PYTHONDONTWRITEBYTECODE": "1"}


def subcommands(help_text: str) -> list[str]:
    """The subcommands an argparse help lists under its positional arguments (`{a,b,c}`)."""
    positional = help_text.partition("positional arguments:")[2].split("\n\n")[0]
    match = re.search(r"^\s+\{([\w,-]+)\}", positional, re.MULTILINE)
    return match.group(1).split(",") if match else []


def check_help(install: Installation) -> int:
    """`synpunkt --help` and every subcommand's, down to the last level; returns how many."""
    seen = 0
    level = [()]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        while level:
            results = list(pool.map(lambda words: install.run(*words, "--help"), level))
            seen += len(results)
            level = [
                (*words, name)
                for words, result in zip(level, results, strict=True)
                for name in subcommands(result.stdout)
            ]
    return seen


def check_installed_from(install: Installation, python: Path) -> None:
    """The commands run the installed package, not the source tree beside this script, and the
    installation carries its licence."""
    probe = (
        "import json, inbox, mail, bot; from importlib.metadata import metadata\n"
        "meta = metadata('synpunkt')\n"
        "print(json.dumps([inbox.__file__, meta['License-Expression'], "
        "meta.get_all('License-File')]))"
    )
    where, licence, files = json.loads(
        subprocess.run(
            [str(python), "-c", probe],
            cwd=install.workdir,
            env=install.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    check("site-packages" in where, f"inbox is imported from {where}, not an installation")
    check(
        not Path(where).resolve().is_relative_to(SOURCE_TREE),
        f"inbox is imported from the source tree ({where})",
    )
    check(licence == "EUPL-1.2" and files == ["LICENSE"], f"licence metadata: {licence}, {files}")


# HTTP ---------------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    url: str

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> object:
        return json.loads(self.body)


def _headers(message: Message) -> dict[str, str]:
    return {name.lower(): value for name, value in message.items()}


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # every hop is checked by Client.fetch


class Client:
    """A browser of sorts: cookies, redirects followed one hop at a time, every answer checked."""

    def __init__(self, base: str, *, token: str | None = None) -> None:
        self.base = base
        self.token = token
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirects()
        )
        self.fetched: list[tuple[str, str, int]] = []

    def fetch(
        self,
        path: str,
        *,
        method: str = "GET",
        form: dict[str, str] | None = None,
        json_body: object = None,
        expect: tuple[int, ...] | None = (200,),
    ) -> Response:
        url = urllib.parse.urljoin(self.base, path)
        for _hop in range(5):
            data, headers = None, {}
            if form is not None:
                data = urllib.parse.urlencode(form).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            elif json_body is not None:
                data = json.dumps(json_body).encode()
                headers["Content-Type"] = "application/json"
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with self.opener.open(request, timeout=30) as answer:
                    response = Response(answer.status, _headers(answer.headers), answer.read(), url)
            except urllib.error.HTTPError as error:
                response = Response(error.code, _headers(error.headers), error.read(), url)
            self.fetched.append((method, url.removeprefix(self.base), response.status))
            if VERBOSE:
                print(f"  {response.status} {method} {url.removeprefix(self.base)}", flush=True)
            check(
                response.status < 500,
                f"{method} {url} answered {response.status}:\n{response.text[:2000]}",
            )
            if response.status not in (301, 302, 303, 307, 308):
                break
            url = urllib.parse.urljoin(url, response.headers.get("location", ""))
            if response.status == 303:
                method, form, json_body = "GET", None, None
        if expect is not None:
            check(
                response.status in expect,
                f"{method} {url} answered {response.status}, not {expect}:\n{response.text[:2000]}",
            )
        return response


class _Links(HTMLParser):
    """Same-site links, style sheets, scripts and images of a page; the inputs of its forms."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.inputs: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name in ("href", "src"):
            if name in values and tag in ("a", "link", "script", "img"):
                self.links.append(values[name])
        if tag in ("input", "textarea", "select"):
            self.inputs.append(values)


def parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def same_site_links(response: Response, base: str) -> list[str]:
    found = []
    for link in parse(response.text).links:
        url = urllib.parse.urljoin(response.url, link.strip())
        parts = urllib.parse.urlsplit(url)
        if url.startswith(base) and parts.scheme in ("http", "https"):
            found.append(parts._replace(fragment="").geturl().removeprefix(base) or "/")
    return found


def hidden_field(html: str, name: str) -> str:
    for values in parse(html).inputs:
        if values.get("name") == name:
            return values.get("value", "")
    raise SmokeFailure(f"no field {name!r} in the form")


def crawl(client: Client, start: list[str]) -> int:
    """Fetches `start` and everything same-site they link to (pages, CSS, scripts, downloads),
    breadth first and bounded; every link must answer 2xx. Returns how many were fetched."""
    seen: set[str] = set()
    queue = list(start)
    while queue and len(seen) < CRAWL_LIMIT:
        path = queue.pop(0)
        if path in seen or path.startswith(("/auth/oidc", "/signout")):
            continue
        seen.add(path)
        response = client.fetch(path, expect=tuple(range(200, 300)))
        check(response.body, f"GET {path}: an empty answer")
        if response.headers.get("content-type", "").startswith("text/html"):
            queue += [link for link in same_site_links(response, client.base) if link not in seen]
    return len(seen)


# Processes ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def started(install: Installation, *args: str, env: dict[str, str]) -> Iterator[Running]:
    """A long-running command in the background; stopped (SIGTERM, then SIGKILL) on the way out."""
    name = " ".join(args)
    log = install.workdir / f"{args[0]}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(install.synpunkt), *args],
            cwd=install.workdir,
            env=install.env | env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    running = Running(name, process, log)
    try:
        yield running
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def stop(running: Running) -> None:
    """SIGTERM, and the command must exit 0 within 30 seconds with no traceback in its log."""
    check(
        running.process.poll() is None,
        f"`synpunkt {running.name}` stopped by itself ({running.process.returncode}):\n"
        f"{running.log_text()[-3000:]}",
    )
    running.process.send_signal(signal.SIGTERM)
    try:
        status = running.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        raise SmokeFailure(
            f"`synpunkt {running.name}` did not stop within 30 s of SIGTERM"
        ) from None
    log = running.log_text()
    check(status == 0, f"`synpunkt {running.name}` exited with {status} on SIGTERM:\n{log[-3000:]}")
    check("Traceback" not in log, f"a traceback in `synpunkt {running.name}`'s log:\n{log[-5000:]}")


def wait_for(what: str, probe: object, *, running: list[Running], timeout: float = 60) -> object:
    """Calls `probe` until it returns something true; fails when a process ends or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        for one in running:
            check(
                one.process.poll() is None,
                f"`synpunkt {one.name}` exited with {one.process.returncode} while waiting for "
                f"{what}:\n{one.log_text()[-3000:]}",
            )
        with contextlib.suppress(OSError, SmokeFailure):
            result = probe()  # type: ignore[operator]
            if result:
                return result
        check(time.monotonic() < deadline, f"no {what} within {timeout:g} s")
        time.sleep(0.3)


def healthy(base: str) -> bool:
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
        return bool(answer.status == 200 and json.loads(answer.read())["status"] == "ok")


def smtp_greets(port: int) -> bool:
    with smtplib.SMTP("127.0.0.1", port, local_hostname="smoke.localhost", timeout=5) as smtp:
        return smtp.noop()[0] == 250


# The run ------------------------------------------------------------------------------------------


def checkin_links(outbox: Path, base: str) -> tuple[str, str] | None:
    """The answer and unsubscribe links of a check-in mail in the file outbox, as paths."""
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        text = part.get_content() if part is not None else ""
        answer = re.search(re.escape(base) + r"(/checkin/(?!stopp/)[^\s\"<>]+)", text)
        stop_link = re.search(re.escape(base) + r"(/checkin/stopp/[^\s\"<>]+)", text)
        if answer and stop_link:
            return answer.group(1), stop_link.group(1)
    return None


def answer_form(html: str) -> dict[str, str]:
    """The check-in form answered with the first choice of every question."""
    answers: dict[str, str] = {}
    for values in parse(html).inputs:
        if values.get("type") == "radio":
            answers.setdefault(values["name"], values["value"])
    check(answers, "the check-in form has no questions")
    return answers | {"comment": "Röktest"}


def serve_and_fetch(install: Installation) -> None:
    web_port, smtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = {
        "SYNPUNKT_WEB_LISTEN": f"127.0.0.1:{web_port}",
        "SYNPUNKT_SMTP_LISTEN": f"127.0.0.1:{smtp_port}",
        "SYNPUNKT_PUBLIC_URL": base,
        # Check-ins go out at once, so that the worker mails a real link during the test.
        "SYNPUNKT_CHECKIN_DELAY_DAYS": "0",
        "SYNPUNKT_CHECKIN_SEND_WINDOW": "always",
    }
    decided_on = (datetime.now(UTC) - timedelta(days=5)).date().isoformat()
    csv_file = install.workdir / "decisions.csv"
    csv_file.write_text(
        "unit,channel,address,language,decided_on,reference\n"
        f"ekonomiskt-bistand,email,klient@example.se,sv,{decided_on},SMOKE-1\n",
        encoding="utf-8",
    )
    install.run("decisions", "import", str(csv_file), env=env)

    with started(install, "serve", env=env) as serve:
        wait_for("/healthz answering 200", lambda: healthy(base), running=[serve])
        step(f"serve is up on {base}")
        token = install.run("tokens", "create", "smoke", "--role", "admin", "--all-units")
        api = Client(base, token=token.stdout.strip().splitlines()[-1])

        # The API with the token: a decision, a case registered by hand, the lists.
        decision = api.fetch(
            "/api/decisions",
            method="POST",
            json_body={
                "unit": "smoke",
                "channel": "email",
                "address": "klient2@example.se",
                "language": "en",
                "decided_on": decided_on,
                "reference": "SMOKE-2",
            },
            expect=(201,),
        ).json()
        check(isinstance(decision, dict), f"POST /api/decisions: {decision!r}")
        registered = api.fetch(
            "/api/cases",
            method="POST",
            json_body={
                "channel": "phone",
                "subject": "Röktest per telefon",
                "text": "En synpunkt som kom per telefon.",
                "unit": "smoke",
                "contact_email": "anna@example.se",
                "acknowledge": True,
            },
            expect=(201,),
        ).json()
        reference = registered["reference"]  # type: ignore[index]
        api.fetch(f"/api/cases/{reference}")
        api.fetch(f"/api/decisions/{decision['id']}")  # type: ignore[index]
        check(Client(base).fetch("/api/cases", expect=(401,)), "the API without a token")
        install.run("demo", "--count", "2", env=env)  # mail over SMTP to the running listener
        wait_for(
            "the demo mails as cases",
            lambda: len(api.fetch("/api/cases?limit=50").json()["items"]) >= 3,  # type: ignore[index]
            running=[serve],
        )
        schema = api.fetch("/openapi.json").json()
        plain_gets = [
            path
            for path, operations in schema["paths"].items()  # type: ignore[index]
            if "get" in operations and "{" not in path
        ]
        for path in plain_gets:  # 4xx for a missing parameter is fine; 5xx is not
            api.fetch(path, expect=None)
        step(f"API: {len(api.fetched)} requests with the token")

        # The staff pages: sign in, then every page and file they link to.
        staff = Client(base)
        signin = staff.fetch("/", expect=(200,))
        check(
            "csrf_token" in signin.text,
            f"/ without a session is not the sign-in page ({signin.url})",
        )
        form = {
            "username": "smoke-admin",
            "password": PASSWORD,
            "next": "/",
            "csrf_token": hidden_field(signin.text, "csrf_token"),
        }
        inbox = staff.fetch("/signin", method="POST", form=form)
        check("/signin" not in inbox.url and "Logga ut" in inbox.text, "signing in failed")
        pages = crawl(staff, ["/", f"/cases/{reference}", "/healthz", "/static/public.css"])
        step(f"staff pages: {pages} pages and files, all 2xx")

        # The API documentation and the files it loads (Swagger UI, from the installed package).
        docs = Client(base)
        crawl(docs, ["/docs"])
        step(f"/docs: {len(docs.fetched)} pages and files")

        # The public pages: a real check-in link, from the mail the worker wrote.
        outbox = install.workdir / "var" / "outbox"
        links = wait_for(
            "a check-in mail in var/outbox", lambda: checkin_links(outbox, base), running=[serve]
        )
        answer_link, stop_link = links  # type: ignore[misc]
        public = Client(base)
        page = public.fetch(answer_link)
        check("<form" in page.text, f"GET {answer_link}: no form")
        crawl(public, [answer_link])  # its style sheet
        public.fetch(answer_link, method="POST", form=answer_form(page.text))
        public.fetch(answer_link, expect=(410,))  # used: a page that says so
        public.fetch(stop_link)
        public.fetch(stop_link, method="POST", form={})
        public.fetch("/checkin/not-a-real-token", expect=(404,))
        for path in PUBLIC_PAGES:
            if public.fetch(path, expect=(200, 404)).status == 200:
                crawl(public, [path])
        step(f"public pages: {len(public.fetched)} requests")
        stop(serve)
    step("serve stopped on SIGTERM with exit status 0")


def parts_alone(install: Installation) -> None:
    """`web`, `smtp` and `worker` as separate processes on one database, as docker-compose runs
    them: a mail to the SMTP part becomes a case the web part shows."""
    web_port, smtp_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = {
        "SYNPUNKT_WEB_LISTEN": f"127.0.0.1:{web_port}",
        "SYNPUNKT_SMTP_LISTEN": f"127.0.0.1:{smtp_port}",
        "SYNPUNKT_PUBLIC_URL": base,
    }
    with (
        started(install, "web", env=env) as web,
        started(install, "smtp", env=env) as smtp,
        started(install, "worker", env=env) as worker,
    ):
        everyone = [web, smtp, worker]
        wait_for("/healthz of `synpunkt web`", lambda: healthy(base), running=everyone)
        wait_for("`synpunkt smtp` greeting", lambda: smtp_greets(smtp_port), running=everyone)
        message = EmailMessage()
        message["From"] = "Bo Ek <bo@example.se>"
        message["To"] = "synpunkt@synpunkt.localhost"
        message["Subject"] = "Röktest med delarna var för sig"
        message.set_content("Hej! En synpunkt till de separata processerna.")
        with smtplib.SMTP("127.0.0.1", smtp_port, local_hostname="smoke.localhost") as client:
            client.send_message(message)
        # A registrar: the new case has no unit yet, which viewers do not see.
        token = install.run("tokens", "create", "parts", "--all-units")
        api = Client(base, token=token.stdout.strip().splitlines()[-1])
        wait_for(
            "the mail as a case",
            lambda: any(
                item["subject"] == message["Subject"]
                for item in api.fetch("/api/cases?limit=50").json()["items"]  # type: ignore[index]
            ),
            running=everyone,
        )
        parts = api.fetch("/healthz").json()["parts"]  # type: ignore[index]
        check(
            all(parts.get(part, {}).get("status") == "live" for part in ("web", "smtp", "worker")),
            f"/healthz does not show every part beating: {parts}",
        )
        api.fetch("/livez")
        api.fetch("/readyz")
        for one in everyone:
            stop(one)
    step(
        "web, smtp and worker alone: a mail became a case, each part beats; each stopped with "
        "exit status 0"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--synpunkt",
        type=Path,
        default=Path(sys.executable).parent / "synpunkt",
        help="the installed command (default: beside this Python)",
    )
    parser.add_argument("--verbose", action="store_true", help="print every request")
    args = parser.parse_args(argv)
    global VERBOSE
    VERBOSE = args.verbose
    with tempfile.TemporaryDirectory(prefix="synpunkt-smoke-") as folder:
        workdir = Path(folder)
        install = Installation(args.synpunkt, workdir, clean_environment(workdir))
        try:
            check(install.synpunkt.exists(), f"{install.synpunkt} does not exist")
            check_installed_from(install, Path(sys.executable))
            step(f"--help of {check_help(install)} commands and subcommands")
            install.run("web", env={"SYNPUNKT_WEB_LISTEN": "no-port"}, expect=78)
            install.run("bot", expect=2)  # no token set: one line, nothing started
            install.run("imap", expect=2)  # no mailbox set
            install.run("db", "upgrade")
            check((workdir / "var" / "synpunkt.db").is_file(), "no var/synpunkt.db after upgrade")
            install.run("db", "upgrade")  # again: nothing to do
            install.run("units", "add", "smoke", "Röktestenheten", "--response-days", "5")
            install.run(
                "users", "add", "smoke-admin", "--role", "admin", "--all-units",
                "--password-stdin", stdin=PASSWORD + "\n",
            )  # fmt: skip
            install.run("users", "list")
            install.run("tokens", "list")
            step("db upgrade, units add, users add, tokens list on a fresh SQLite database")
            serve_and_fetch(install)
            parts_alone(install)
        except SmokeFailure as failure:
            print(f"\nSMOKE TEST FAILED: {failure}", file=sys.stderr, flush=True)
            return 1
    step("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
