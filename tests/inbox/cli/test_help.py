"""The command line explains itself: `--version`, what every command does and which settings it
reads, and the README's command table lists exactly the parser's commands."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import pytest

from inbox.cli.main import READS, build_parser, commands_of, main
from inbox.settings import Settings

README = Path(__file__).parents[3] / "README.md"
WORD = re.compile(r"[a-z][a-z-]*")


def _commands() -> set[str]:
    """Every command the parser runs (a group such as `db` is no command of its own)."""
    return {
        " ".join(words)
        for words, _help, sub in commands_of(build_parser())
        if not any(w for w, *_ in commands_of(sub))
    }


def _readme_commands() -> set[str]:
    """The commands the README's table names: `synpunkt users disable NAME` / `enable NAME`."""
    section = README.read_text().split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    found: set[str] = set()
    top = {words[0] for words, *_ in commands_of(build_parser())}
    for row in re.findall(r"^\| `synpunkt (.+?) \| ", section, re.MULTILINE):
        group: list[str] = []
        for span in re.findall(r"`?([^`]+)`?(?: / |$)", "`" + row):
            words = []
            for word in span.split():
                if not WORD.fullmatch(word):
                    break
                words.append(word)
            if words and words[0] not in top:  # a sibling: `enable` after `users disable`
                words = group[:-1] + words
            group = words
            found.add(" ".join(words))
    return found


def test_version_is_the_installed_package_s(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out == f"synpunkt {version('synpunkt')}\n"


def test_every_command_has_its_settings_in_the_table_and_the_table_names_real_settings() -> None:
    assert set(READS) == _commands()
    for command, names in READS.items():
        unknown = set(names) - set(Settings.model_fields)
        assert not unknown, (command, unknown)
        # Only the demo (it mails the listener) and a check of files on disk need no database.
        assert "database_url" in names or command in ("demo", "archive verify"), command


def test_every_help_says_what_the_command_does_and_which_settings_it_reads() -> None:
    for words, text, sub in commands_of(build_parser()):
        page = sub.format_help()
        assert text and sub.description and text[1:] in sub.description, words
        command = " ".join(words)
        if command in READS:
            settings = page.rsplit("Settings: ", 1)[1].replace("\n", " ").split(", ")
            named = [f"SYNPUNKT_{n.upper()}" for n in dict.fromkeys(READS[command])]
            assert [s.strip() for s in settings] == (named or ["none"]), command


def test_the_readme_command_table_lists_every_command_and_no_other() -> None:
    readme = _readme_commands()
    assert readme == _commands(), (
        f"missing from the README: {sorted(_commands() - readme)}; "
        f"not commands: {sorted(readme - _commands())}"
    )
