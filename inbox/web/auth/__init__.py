"""Who is signed in to the staff pages, and how they got there.

`sessions` (the signed session cookie, the per-request unit of work, the signed-in user), `signin`
(username and password, sign-out, the sign-in page), `oidc` (the municipality's OpenID Connect
sign-in) and `csrf` (the token every staff form carries). What a signed-in user may do is decided
by the typed principals in `inbox.web.deps`.
"""
