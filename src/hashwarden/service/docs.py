"""`/docs`: Swagger UI over /openapi.json, its script and style served from an installed package, never a CDN.

FastAPI's own /docs page loads Swagger UI from a CDN, so it is blank on an offline or firewalled network (where
this service is meant to run) and tells a third party who reads the docs. The `fastapi-swagger` package ships the
Swagger UI distribution (MIT; Swagger UI itself Apache-2.0); its files are mounted under ASSETS and the page names
only those local URLs. Like /openapi.json, the page needs no key: it holds nothing the schema does not.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

PATH = "/docs"
ASSETS = "/docs/assets"
_PACKAGE = ("fastapi_swagger", "resources")  # swagger-ui-bundle.js, swagger-ui.css, favicon-32x32.png


def add_docs(app: FastAPI) -> None:
    """Serve the docs page at PATH and Swagger UI's files under ASSETS (the app is made with `docs_url=None`)."""
    app.mount(ASSETS, StaticFiles(packages=[_PACKAGE]), name="docs-assets")
    app.add_api_route(PATH, _docs_page, include_in_schema=False)


def _docs_page(request: Request) -> HTMLResponse:
    """The page, for the app that serves it. A module function, not a closure over the app: FastAPI caches each
    endpoint's dependency analysis in a module-level cache keyed by the function, so a closure kept every app
    made (its matcher's memory-mapped files and their descriptors with it) alive for the life of the process."""
    app = request.app
    return get_swagger_ui_html(
        openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
        swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None})  # Swagger UI would send the schema to its validator
