"""Public pages (store pages, store product pages, the GS1 Digital Link resolver), shelf labels and the
associates' console; and the offline assets of the API docs page.

`create_app` takes what it needs from here, so the app module only lists it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.router import Router
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

HERE = Path(__file__).parent
OPENAPI_ASSETS = HERE.parent / "openapi_assets"
SWAGGER_UI_VERSION = "5.35.0"  # the copy in commerce/openapi_assets/


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)


def static_routers() -> list[Router]:
    """The pages' stylesheet and script, and the API docs page's assets: public, cacheable."""
    public: dict[str, Any] = {"exclude_from_auth": True}
    return [
        create_static_files_router(
            path="/static/pages",
            directories=[HERE / "static"],
            name="page_assets",
            opt=public,
            cache_control=CacheControlHeader(max_age=300, public=True),
        ),
        create_static_files_router(
            path="/static/openapi",
            directories=[OPENAPI_ASSETS],
            name="openapi_assets",
            opt=public,
            cache_control=CacheControlHeader(max_age=86400, public=True),
        ),
    ]


def openapi_render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at `/schema` (and `/schema/swagger`) from the service's own copy of its assets: no CDN."""
    return [
        SwaggerRenderPlugin(
            version=SWAGGER_UI_VERSION,
            js_url="/static/openapi/swagger-ui-bundle.js",
            css_url="/static/openapi/swagger-ui.css",
            standalone_preset_js_url="/static/openapi/swagger-ui-standalone-preset.js",
            favicon="<link rel='icon' type='image/png' href='/static/openapi/favicon-32x32.png'>",
            path=["/swagger"],
        )
    ]
