"""The web face of the hub: the JSON API, the staff pages and the public check-in pages.

`app.create_app` builds the application from what the composition root gives it; `state` turns
those parts into typed dependencies and `deps` holds the typed principals (who is asking, and what
they may do). `api/` has one module per resource, `pages/` the HTML pages, `auth/` the staff
sessions, sign-in (password and OpenID Connect) and CSRF. Beside them: `render` (templates and
Swedish labels), `downloads`, `inputs` (what the database cannot store), and the middleware of
`limits` (body size) and `security` (headers).
"""
