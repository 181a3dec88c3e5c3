"""Recognising that a message may be an appeal (överklagande), in Swedish or English.

An appeal that reaches the authority is received that day, whatever address it came to and
whatever it calls itself (FL 43–45 §§): a message in which someone asks for a decision to be
changed is an appeal in substance. Telling its sender that "feedback is not an appeal" can make
them miss the three weeks. So recognition errs towards yes: a missed appeal costs someone a
right, a false one costs staff a glance at the case and the sender a paragraph they may ignore.

What counts as intent, sentence by sentence (the subject is a sentence of its own):
- a word of appeal in any form: överklaga, överklagar, överklagandet, överklagan, överklagbart,
  överklagandetiden (asking about the appeal period is a person within it), laglighetsprövning,
  rättidsprövning, omprövning/ompröva, förvaltningsrätten; appeal, appeals, appealed, appealing
  against/the/this …, reconsider(ation), the administrative court;
- a decision (beslutet, ert beslut …; the decision, your decision …) in the same sentence as a
  wish to change or undo it, or a rejection of it: ändra, fel, orättvis, godtar inte, riva upp;
  change, wrong, unfair, overturn, do not accept.
What does not:
- an explicit disavowal: "jag vill inte överklaga", "det här är inget överklagande", "I do not
  want to appeal", "this is not an appeal" (only the disavowed words are dropped: another wish
  in the same sentence still counts);
- a settled appeal of the past, told as history: "jag överklagade förra året och fick rätt",
  "I appealed and won" — unless the same sentence also wants, asks or plans something;
- "appealing" as an adjective ("the new rooms are appealing").
Only the sender's own words are read: lines quoting an earlier mail (`>`) are left out, since a
reply quoting our acknowledgement would otherwise always mention "överklagande".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from inbox.cases.tasks import TaskKind, add_tasks
from inbox.core.audit import SYSTEM, audit_row
from inbox.core.inbound import InboundMessage
from inbox.core.models import AuditEvent, Case
from inbox.core.time import STOCKHOLM
from inbox.intake.acknowledgement import counts_as_received, our_paragraphs
from inbox.intake.policy import IntakePolicy
from inbox.intake.steps import Item

# Read at most this much of a message: an appeal is said early, and the budget stays linear.
MAX_READ = 200_000

_APPEAL_WORDS = re.compile(
    r"""
    [öo]verklag\w*                      # överklaga, överklagandet, överklagan, overklaga …
    | laglighetspr[öo]vning\w*
    | r[äa]ttidspr[öo]vning\w*
    | ompr[öo]v\w*                      # omprövning, ompröva, omprövas
    | f[öo]rvaltningsr[äa]tt\w*
    | \bappeal(?:s|ed)?\b
    | \bappealing\s+(?:against|the|this|that|these|a|an|your|my|our|his|her|their|it)\b
    | \breconsider\w*
    | \badministrative\s+court\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
_DECISION = re.compile(
    r"\b(?:beslut(?:et|en)?|decisions?)\b",
    re.IGNORECASE,
)
_CHANGE = re.compile(
    r"""
    \b(?:
      ändr\w* | [äa]ndras | fel | felaktig\w* | orätt\w* | orimlig\w* | orättvis\w*
      | godta[rs]?\s+inte | accepterar\s+inte | h[åa]ller\s+inte\s+med | inte\s+n[öo]jd
      | protest\w* | bestrid\w* | upph[äa]v\w* | riv[ae]r?\s+upp | g[öo]r[as]?\s+om
      | change[sd]? | changing | wrong | unfair | unjust | incorrect | overturn\w*
      | revers\w* | challeng\w* | contest\w* | disagree\w* | object\w* | review\w*
      | (?:do\s+not|don't|cannot|can't|won't)\s+accept
    )\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
_DISAVOWED = re.compile(
    r"""
    \b(?:vill|tänker|ska|skall|kommer|behöver)\s+(?:jag\s+)?inte\s+(?:att\s+)?[öo]verklag\w*
    | \binte\s+för\s+avsikt\s+att\s+[öo]verklag\w*
    | \b(?:är|var)\s+(?:inte|inget)\s+(?:ett\s+)?[öo]verklagande\w*
    | \binte\s+(?:som\s+)?ett\s+[öo]verklagande\w*
    | \b(?:do\s+not|don't|does\s+not|doesn't|will\s+not|won't|not\s+going\s+to)\s+
      (?:want\s+to\s+|wish\s+to\s+|intend\s+to\s+)?appeal\w*
    | \bnot\s+(?:an\s+|my\s+)?appeal\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
_PAST_APPEAL = re.compile(
    r"\b(?:[öo]verklagade|[öo]verklagat|[öo]verklagades|appealed)\b", re.IGNORECASE
)
_SETTLED = re.compile(
    r"""
    \b(?:fick\s+rätt | vann | fick\s+bifall | bifölls | gav\s+mig\s+rätt | avgjor\w*
      | won | was\s+successful | succeeded | was\s+upheld | was\s+granted)\b
    """,
    re.IGNORECASE | re.VERBOSE,
)
_WANTS = re.compile(
    r"""
    \b(?:vill | ska | skall | tänker | kommer\s+att | begär\w* | önskar | hur | när | kan\s+jag
      | want\w* | will | going\s+to | would\s+like | wish | how | when | can\s+i | again | igen)\b
    | \?
    """,
    re.IGNORECASE | re.VERBOSE,
)
# Every sentence that may be intent contains one of these (lower case): a plain substring search
# finds the few sentences worth reading closer, at a fraction of the regular expressions' cost.
_STEMS = (
    "verklag",
    "pröv",
    "prov",
    "rvaltningsr",
    "appeal",
    "reconsider",
    "administrative court",
    "beslut",
    "decision",
)


def _triggered(text: str) -> bool:
    low = text.lower()
    return any(stem in low for stem in _STEMS)


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


def _own_words(text: str) -> str:
    """The text without lines that quote an earlier message."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith(">"))


def _sentences(text: str) -> Iterator[str]:
    for part in _SENTENCE_END.split(text):
        sentence = " ".join(part.split())
        if sentence:
            yield sentence


def _pattern(sentence: str) -> str:
    return r".{0,300}?".join(re.escape(piece) for piece in re.split(r"\{\w+\}", sentence))


# The sentences of our own acknowledgements, which a reply may quote without `>` (the mail
# adapter strips most quoted history, not all): never the sender's intent.
_OURS = re.compile(
    "|".join(
        sorted(
            {
                _pattern(s)
                for paragraph in our_paragraphs()
                for s in _sentences(paragraph)
                if len(re.sub(r"\{\w+\}", "", s)) >= 20  # not "{emergency}", which is anything
            }
        )
    ),
    re.IGNORECASE,
)


def _intends(sentence: str) -> bool:
    if _OURS.fullmatch(sentence):
        return False
    kept = _DISAVOWED.sub(" ", sentence)
    if _PAST_APPEAL.search(kept) and _SETTLED.search(kept) and not _WANTS.search(kept):
        return False
    if _APPEAL_WORDS.search(kept):
        return True
    return bool(_DECISION.search(kept) and _CHANGE.search(kept))


def appeal_intent(subject: str, text: str) -> bool:
    """Whether the subject or the text may express a wish to appeal a decision (see above)."""
    text = text[:MAX_READ]
    if not (_triggered(subject) or _triggered(text)):
        return False  # most messages
    sentences = [subject, *_sentences(_own_words(text))]
    return any(_triggered(sentence) and _intends(sentence) for sentence in sentences)


def message_appeals(msg: InboundMessage) -> bool:
    """`appeal_intent` on what the sender wrote in this message (quoted history left out)."""
    return appeal_intent(msg.subject or "", msg.display_text or msg.text)


async def recognise_appeals(
    session: AsyncSession, items: Sequence[Item], *, policy: IntakePolicy, now: datetime
) -> None:
    """A message that may be an appeal flags its case `appeal_intent` (audited) and gives the
    case a task due the next working day after it arrived (the decision-maker's rättidsprövning),
    unless one is open; its acknowledgement (`acknowledgement`) then says so."""
    first: dict[int, Item] = {}  # case id → the first message in the batch that may appeal
    for item in items:
        if item.joins_case and item.case_id is not None and message_appeals(item.msg):
            item.appeal = True
            first.setdefault(item.case_id, item)
    if not first:
        return
    flagged = await session.execute(
        update(Case)
        .where(col(Case.id).in_(sorted(first)), col(Case.flag_appeal_intent).is_(False))
        .values(flag_appeal_intent=True, updated_at=now)
        .returning(col(Case.id), col(Case.reference))
    )
    rows = [
        audit_row(
            actor=SYSTEM,
            action="case.update",
            case_id=case_id,
            case_reference=reference,
            now=now,
            detail={
                "field": "flag_appeal_intent",
                "before": False,
                "after": True,
                "reason": "the message may be an appeal",
            },
        )
        for case_id, reference in flagged.all()
    ]
    if rows:
        await session.execute(insert(AuditEvent), rows)
    wanted = []
    for case_id, item in first.items():
        assert item.reference is not None
        arrived = counts_as_received(item.msg, _stored_at(item, now))
        wanted.append(
            (case_id, item.reference, TaskKind.APPEAL, arrived.astimezone(STOCKHOLM).date())
        )
    await add_tasks(session, wanted, actor=SYSTEM, now=now)


def _stored_at(item: Item, now: datetime) -> datetime:
    """When the message was stored (its ledger row), at the latest now."""
    return min(item.record.received_at, now) if item.record is not None else now
