"""The HTML pages: the staff inbox and, without sign-in, the citizen's check-in pages.

Staff pages (signed-in users, `inbox.web.deps`' `Staff*` principals, CSRF on every form): `cases`
(the list at `/`, one case, its downloads), `actions` (the forms on a case), `registration`
(`/cases/new`), `decisions` (`/decisions/new`, `/checkins`), `tasks` (`/tasks`, "Att göra") and
`admin` (health, audit trail, reply templates). Public: `checkin`, the page a check-in's link opens.
"""
