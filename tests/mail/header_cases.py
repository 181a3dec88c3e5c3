"""Mails whose headers only read right when read as the sender meant them (issue 13), for the
parser's tests (`test_header_block.py`) and the edges' (`test_header_edges.py`)."""

from __future__ import annotations

# (charset label, display name, subject): what a client in that script writes unencoded.
LEGACY = [
    ("gb2312", "王小明", "关于家庭护理服务的投诉"),
    ("shift_jis", "山田太郎", "介護サービスについての苦情"),
    ("koi8-r", "Иван Петров", "Жалоба на социальную службу"),
    ("windows-1251", "Иван Петров", "Жалоба на социальную службу"),
    ("iso-8859-2", "Łucja Wójcik", "Skarga na opiekę w Łodzi"),
    ("iso-8859-7", "Γιώργος Παπαδόπουλος", "Παράπονο για την υπηρεσία"),
]


def legacy_mail(
    charset: str, name: str, subject: str, *, layout: str, message_id: str = "l@example.org"
) -> bytes:
    """Subject and From name as raw bytes in `charset`, which only a body part declares."""
    head = f"From: {name} <sender@example.org>\nSubject: {subject}\nMessage-ID: <{message_id}>\n"
    text = f"{subject}.\n"
    if layout == "one part":
        return (head + f"Content-Type: text/plain; charset={charset}\n\n{text}").encode(charset)
    # The first part is plain ASCII; the charset is declared only further down.
    return (
        head + "MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=b\n\n"
        "--b\nContent-Type: text/plain; charset=us-ascii\n\nSee the HTML part.\n"
        f"--b\nContent-Type: text/html; charset={charset}\n\n<p>{text}</p>\n--b--\n"
    ).encode(charset)


TRACKING = (
    "X-Gateway-Tracking: eyJ2IjoxLCJpZCI6IjQ0YjdjZmE2LTIxNzMtNGNkZS05YjU4LTZlOGUyM2QxYjk0\n"
    "MCIsInJjcHQiOiJzeW5wdW5rdEBrb21tdW4uc2UiLCJzcmMiOiJndzMuZXhhbXBsZS5uZXQifQ\n"
    "ZXlKMklqb3hMQ0pwWkNJNklqUTBZamRqWm1FMkxUSXhOek10TkdOa1pTMDVZalU0TFRabE9HVXlNMlF4WWpr\n"
)


def broken_mail(line_end: str = "\n", *, message_id: str = "broken.1@example.se") -> bytes:
    """A gateway's tracking header over lines without leading white space, above the fields."""
    text = (
        "Received: from gw3.example.net by mx.kommun.se; Tue, 10 Mar 2026 09:00:00 +0100\n"
        + TRACKING
        + "From: Anna Andersson <anna@example.se>\n"
        "Subject: Synpunkt om hemtjänsten\n"
        f"Message-ID: <{message_id}>\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "Hej, personalen kommer ofta sent.\n"
    )
    return text.replace("\n", line_end).encode()


def banner_mail(
    banner: str = "---- Original email message ----\n", *, message_id: str = "banner.1@example.se"
) -> bytes:
    """A message saved or passed on with a forwarding banner above its header block."""
    return (
        banner + "From: Anna Andersson <anna@example.se>\nTo: synpunkt@kommun.se\n"
        f"Subject: Synpunkt\nMessage-ID: <{message_id}>\n\nHej, vården var bra.\n"
    ).encode()
