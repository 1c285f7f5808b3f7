"""`/docs`: Swagger UI over /openapi.json, its script and style served from an installed package, never a CDN.

FastAPI's own /docs page loads Swagger UI from a CDN, so it is blank on an offline or firewalled network (where
this service is meant to run) and tells a third party who reads the docs. The `fastapi-swagger` package ships the
Swagger UI distribution (MIT; Swagger UI itself Apache-2.0); its files are mounted under ASSETS and the page names
only those local URLs. Like /openapi.json, the page needs no key: it holds nothing the schema does not.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

PATH = "/docs"
ASSETS = "/docs/assets"
_PACKAGE = ("fastapi_swagger", "resources")  # swagger-ui-bundle.js, swagger-ui.css, favicon-32x32.png


def add_docs(app: FastAPI) -> None:
    """Serve the docs page at PATH and Swagger UI's files under ASSETS (the app is made with `docs_url=None`)."""
    app.mount(ASSETS, StaticFiles(packages=[_PACKAGE]), name="docs-assets")

    @app.get(PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None})  # Swagger UI would send the schema to its validator
