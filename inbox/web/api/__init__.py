"""The JSON API under `/api`, one module per resource, with its schemas and its `/docs` page.

Thin endpoints over the core, authenticated with bearer tokens (`inbox.web.deps`): `cases` (lists,
counts, one case, replies, triage, merge, split, registration, downloads), `intake` (the ledger),
`audit` (the trail), `decisions` (decisions and check-in statistics) and `tasks` (what the law
requires someone to do about a case, by when).
"""
