"""Records kept as the law requires: what happens to a case's records over their whole life.

`archive` writes closed cases to an archive export with checksums (e-arkiv) and verifies one;
`subject_access` gathers everything about one person for a register extract (GDPR art. 15) and
records rights requests on cases; `retention` removes what the organisation's gallringsbeslut
allows, in batches, leaving a tombstone per removed case; `hold` keeps a case whatever the rules
say. Used by the command line and the staff web app; uses the core and the case rules.
"""
