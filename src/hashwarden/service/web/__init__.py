"""The analysts' pages on the service, under /ui/ (issue 18): server-rendered HTML over the same library functions
as the API, read-only, with no imagery and no script.

`html.py` draws the pages (no FastAPI: the gatekeeper uses its refusal page), `session.py` the login form and its
cookie, `pages.py` the routes, `case_leads.py` what a case's lead list reads.
"""
