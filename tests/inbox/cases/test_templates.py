"""Reply templates fill what the case has and leave the rest visible, so it cannot be sent."""

from __future__ import annotations

from inbox.cases.templates import render, unfilled


def test_a_placeholder_with_a_value_is_filled_and_one_without_stays() -> None:
    body = "Hej {namn}! {handläggare} på {enhet} svarar om {referens}. {okänd} {namn}"
    text = render(body, {"namn": "Anna", "handläggare": "Karin Ek", "enhet": "  ", "referens": ""})
    assert text == "Hej Anna! Karin Ek på {enhet} svarar om {referens}. {okänd} Anna"
    assert unfilled(text) == ["{enhet}", "{referens}"]  # in order, not the unknown word


def test_text_without_placeholders_is_complete() -> None:
    assert unfilled("Hej Anna! Vi hör av oss {snart} – se {}.") == []
