"""Guess the language of a message's text, channel-neutral, for the hub.

Detection is restricted to the languages the clients actually write in (plus a few likely ones),
which makes it both faster and more accurate than an open-world guess. Tigrinya has no detector
anywhere, so it is recognised by its Ethiopic script.
"""

from __future__ import annotations

import re
from functools import cache

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

# Short texts ("ok", "tack!") carry too little signal; guessing would only add noise to statistics.
MIN_LETTERS = 12
# Lingua's cost grows with the input; the first few thousand characters decide the language anyway.
MAX_CHARS = 4000
# Below this confidence the top two candidates are too close to call (Bosnian vs Croatian, say).
MIN_CONFIDENCE = 0.35

_LANGUAGES = (
    Language.SWEDISH,
    Language.ENGLISH,
    Language.FINNISH,
    Language.ARABIC,
    Language.PERSIAN,
    Language.SOMALI,
    Language.GERMAN,
    Language.POLISH,
    Language.SPANISH,
    Language.RUSSIAN,
    Language.TURKISH,
    Language.BOSNIAN,
    Language.CROATIAN,
    Language.SERBIAN,
    Language.UKRAINIAN,
    Language.DANISH,
    Language.BOKMAL,
)

_ETHIOPIC = re.compile(r"[\u1200-\u137F]")
_LETTER = re.compile(r"[^\W\d_]")


@cache
def _detector() -> LanguageDetector:
    # Building loads the language models (slow); do it once, on first use, not at import.
    return (
        LanguageDetectorBuilder.from_languages(*_LANGUAGES)
        .with_low_accuracy_mode()
        .with_preloaded_language_models()
        .build()
    )


def detect_language(text: str) -> str | None:
    """Return the ISO 639-1 code of `text`'s language, or None when it is too short or unclear."""
    sample = text[:MAX_CHARS]
    letters = len(_LETTER.findall(sample))
    if letters < MIN_LETTERS:
        return None
    # Ethiopic script in our clientele means Tigrinya (Amharic speakers are far fewer here).
    if len(_ETHIOPIC.findall(sample)) * 2 >= letters:
        return "ti"
    detector = _detector()
    confidences = detector.compute_language_confidence_values(sample)
    if not confidences:
        return None
    best = confidences[0]
    if best.value < MIN_CONFIDENCE:
        return None
    if len(confidences) > 1 and best.value - confidences[1].value < 0.05:
        return None
    return best.language.iso_code_639_1.name.lower()
