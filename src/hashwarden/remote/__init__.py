"""The client of a hashwarden service (`hashwarden remote`): hash lists looked up with `POST /v1/lookup`, scan
reports submitted with `POST /v1/cases`. httpx only: the client needs none of the service's code, so a platform
that only calls a service installs no FastAPI.

`client.py` is the connection (key, TLS, timeouts, 429 retries, errors in words); `lookup.py` turns it into a
matcher that `hashwarden match`'s own line writer uses, so local and remote output cannot drift apart.
"""

from hashwarden.remote.client import RemoteClient, read_key
from hashwarden.remote.lookup import RemoteMatcher, case_leads, lookup_lines, submit_case

__all__ = ["RemoteClient", "RemoteMatcher", "case_leads", "lookup_lines", "read_key", "submit_case"]
