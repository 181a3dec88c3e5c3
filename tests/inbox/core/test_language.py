"""The hub guesses a message's language among our clients' languages, or says it cannot."""

from __future__ import annotations

import pytest

from inbox.core.language import detect_language


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Hej, jag vill klaga på hur min handläggare behandlade mig förra veckan.", "sv"),
        ("Hello, I would like to complain about how my caseworker treated me last week.", "en"),
        (
            "Hei, haluan valittaa siitä, miten sosiaalityöntekijäni kohteli minua viime viikolla.",
            "fi",
        ),
        ("مرحبا، أريد أن أشتكي من الطريقة التي عاملني بها موظف الحالة الأسبوع الماضي.", "ar"),
        ("سلام، می خواهم از رفتار مددکارم در هفته گذشته شکایت کنم.", "fa"),
        (
            "Salaan, waxaan doonayaa inaan ka cabsado sida shaqaalaha arrimaha bulshada ii la "
            "dhaqmeen toddobaadkii hore.",
            "so",
        ),
        ("ሰላም፣ ብዛዕባ ኣተሓሕዛ ሰራሕተኛ ማሕበራዊ ጉዳይ ክጠርዕን እደሊ።", "ti"),
        ("Guten Tag, ich möchte mich über die Behandlung durch das Sozialamt beschweren.", "de"),
    ],
)
def test_detects_the_languages_of_our_clients(text: str, code: str) -> None:
    assert detect_language(text) == code


@pytest.mark.parametrize("text", ["", "ok", "tack!", "👍👍", "12345 678"])
def test_short_text_has_no_language(text: str) -> None:
    assert detect_language(text) is None
