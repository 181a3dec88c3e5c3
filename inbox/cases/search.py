"""Full-text search over cases: the user's words made into a safe query, matched and ranked.

SQLite searches the FTS5 table `case_fts` (no Swedish stemming, so every word is matched as a
prefix: "bemötande" finds "bemötandet"); PostgreSQL searches `case_search`, a `tsvector` in the
Swedish configuration (stemmed; the last word is also a prefix, for search-as-you-type). Both
index a case's subject (weighted higher) and the text of its inbound messages and internal notes;
triggers from migration `0005_search` keep them current. Only word characters reach the engine,
so a query can never inject FTS or tsquery syntax. Ranking is by relevance among the newest
`SEARCH_CANDIDATES` matching cases (after the list's filters), which bounds its cost at any size.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Subquery, cast, column, func, literal_column, select, table
from sqlalchemy.sql.elements import ColumnClause, ColumnElement

from inbox.core.models import Case

MAX_TERMS = 12
# Neither FTS5 nor PostgreSQL can find the top-N by bm25 / ts_rank_cd without scoring every match,
# and a common word matches a quarter of a million cases at 1M (0.2–0.8 s to rank them all). So
# the newest this-many matches are ranked: far more than anyone pages through, and ~20 ms to rank.
SEARCH_CANDIDATES = 2000
_WORD = re.compile(r"\w+")
_REFERENCE = re.compile(r"^\s*\[?([A-Za-z0-9]+-\d{4}-\d{4,})\]?\s*$")
# bm25 weights per column (subject, body) on SQLite; on PostgreSQL the subject is weight A.
_SUBJECT_WEIGHT, _BODY_WEIGHT = 4.0, 1.0

_case_fts = table("case_fts", column("rowid"))
_case_search = table("case_search", column("case_id"), column("document"))


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What a search box held: a case reference, or up to `MAX_TERMS` lower-cased words."""

    reference: str | None
    terms: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return self.reference is None and not self.terms


def parse_query(text: str | None) -> SearchQuery:
    if not text:
        return SearchQuery(None, ())
    reference = _REFERENCE.match(text)
    if reference:
        return SearchQuery(reference.group(1).upper(), ())
    terms = tuple(dict.fromkeys(word.lower() for word in _WORD.findall(text)))[:MAX_TERMS]
    return SearchQuery(None, terms)


def fts5_match(terms: tuple[str, ...]) -> str:
    """An FTS5 query: each word quoted (so it is never an operator) and matched as a prefix."""
    return " ".join(f'"{term}"*' for term in terms)


def tsquery_text(terms: tuple[str, ...]) -> str:
    """A `to_tsquery` text: every word quoted and required, the last one also as a prefix."""
    parts = [f"'{term}'" for term in terms]
    parts[-1] += ":*"
    return " & ".join(parts)


def hits(
    dialect: str,
    terms: tuple[str, ...],
    *,
    where: list[ColumnElement[bool]],
    candidates: int = SEARCH_CANDIDATES,
    ranked: bool = True,
) -> Subquery:
    """The newest `candidates` matching cases that satisfy `where` (conditions on `cases`), as a
    subquery (`case_id`, `score`); a lower score ranks higher. Unranked (for counting), every
    score is 0."""
    if dialect == "sqlite":
        fts: ColumnClause[Any] = literal_column("case_fts")
        # bm25 is computed inside the FTS5 query, which walks its matches newest (highest rowid)
        # first and stops after `candidates`; so only those are scored.
        bm25 = func.bm25(fts, _SUBJECT_WEIGHT, _BODY_WEIGHT) if ranked else literal_column("0")
        return (
            select(_case_fts.c.rowid.label("case_id"), cast(bm25, Float).label("score"))
            .join(Case, Case.id == _case_fts.c.rowid)  # type: ignore[arg-type]
            .where(fts.op("MATCH")(fts5_match(terms)), *where)
            .order_by(_case_fts.c.rowid.desc())
            .limit(candidates)
            .subquery("hits")
        )
    query = func.to_tsquery(literal_column("'swedish'::regconfig"), tsquery_text(terms))
    # The rank is computed outside the LIMIT, so PostgreSQL reads only the candidates' documents.
    newest = (
        select(_case_search.c.case_id, _case_search.c.document)
        .join(Case, Case.id == _case_search.c.case_id)  # type: ignore[arg-type]
        .where(_case_search.c.document.op("@@")(query), *where)
        .order_by(_case_search.c.case_id.desc())
        .limit(candidates)
        .subquery("newest")
    )
    rank = -func.ts_rank_cd(newest.c.document, query) if ranked else literal_column("0")
    return select(newest.c.case_id.label("case_id"), cast(rank, Float).label("score")).subquery(
        "hits"
    )
