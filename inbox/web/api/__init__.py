"""The JSON API under `/api`, one module per resource, with its schemas and its `/docs` page.

Thin endpoints over the core, authenticated with bearer tokens (`inbox.web.deps`): `cases` (lists,
counts, one case, replies, triage, merge, split, registration, downloads), `intake` (the ledger),
`audit` (the trail) and `decisions` (decisions and check-in statistics).
"""
