"""The hashwarden service (issue 17): the hash store behind an authenticated HTTP API (FastAPI on uvicorn).

`app.create_app(engine)` builds the application: the auth and audit dependency (`auth`), the request limits
(`limits`), one router module per area (`health`, `lookup`). Routes call the same library functions as the CLI;
the service adds identity, audit and limits. Nothing imports this package; it imports scan, store and config
(the import-linter layers).
"""
