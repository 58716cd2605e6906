"""The public pages: a store's page, a product as a store sells it, the GS1 Digital Link resolver and
the associates' console. HTML rendered on the server (Jinja2 through Litestar's template engine), no
key needed, cacheable (`Cache-Control`, a strong `ETag`, 304 on `If-None-Match`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from commerce.db import Db, ReadDb
from commerce.errors import Problem, exception_handlers
from commerce.pages import jsonld, links, rules, service
from commerce.settings import Settings

PAGE_CACHE = "public, max-age=60"
CONSOLE_CACHE = "no-cache"
# Pages load nothing from elsewhere; the console talks to this service only and may use the camera.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
HTML = "text/html"


def html_page(
    request: Request[Any, Any, Any],
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    cache: str = PAGE_CACHE,
) -> Response[bytes]:
    engine = request.app.template_engine
    assert engine is not None, "create_app sets the template config"
    body = engine.get_template(template).render(**context).encode()
    tag = rules.etag(body)
    headers = {**SECURITY_HEADERS, "Cache-Control": cache, "ETag": tag}
    if status == 200 and rules.matches_etag(request.headers.get("if-none-match"), tag):
        return Response(b"", status_code=304, headers=headers)
    return Response(body, status_code=status, media_type=HTML, headers=headers)


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    """Any error on a public page is a page too, saying what the API's problem response would say (the same
    handler builds it: one definition of each status, title and stable code)."""
    handler = next(h for cls in type(exc).__mro__ if (h := exception_handlers.get(cls)) is not None)
    problem: Problem = handler(request, exc).content
    context = {"status": problem.status, "title": problem.title, "detail": problem.detail, "code": problem.code}
    cache = PAGE_CACHE if problem.status == 404 else "no-store"
    return html_page(request, "error.html.j2", context, status=problem.status, cache=cache)


def _settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


class PageController(Controller):
    path = "/"
    include_in_schema = False
    opt = {"exclude_from_auth": True}
    # Every error the API maps to a problem response is a page here (the same keys, so none falls through).
    exception_handlers = dict.fromkeys(exception_handlers, error_page)

    @get("/stores/{code:str}")
    async def store_page(
        self, request: Request[Any, Any, Any], db: Db, reader: ReadDb, state: State, code: FromPath[str]
    ) -> Response[bytes]:
        settings = _settings(state)
        now = datetime.now(UTC)
        page = await service.store_page(db, reader, code, now=now, threshold=settings.low_stock_threshold)
        base = links.public_base(settings.public_url, request)
        today = now.astimezone(ZoneInfo(page.store.timezone)).date()
        context = {
            "base": base,
            "page": page,
            "store": page.store,
            "week": rules.week_rows(page.store.opening_hours, today),
            "special": rules.upcoming_special_hours(page.store.special_hours, today),
            "json_ld": rules.json_ld_text(jsonld.store(base, page)),
            "links": links,
            "rules": rules,
        }
        return html_page(request, "store.html.j2", context)

    @get("/stores/{code:str}/products/{sku:str}")
    async def product_page(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        reader: ReadDb,
        state: State,
        code: FromPath[str],
        sku: FromPath[str],
    ) -> Response[bytes]:
        settings = _settings(state)
        now = datetime.now(UTC)
        page = await service.product_page(db, reader, code, sku, now=now, threshold=settings.low_stock_threshold)
        base = links.public_base(settings.public_url, request)
        context = {
            "base": base,
            "page": page,
            "store": page.store,
            "json_ld": rules.json_ld_text(jsonld.product(base, page)),
            "links": links,
            "rules": rules,
        }
        return html_page(request, "product.html.j2", context)

    @get("/products/{sku:str}")
    async def product_everywhere(
        self, request: Request[Any, Any, Any], db: Db, reader: ReadDb, state: State, sku: FromPath[str]
    ) -> Response[bytes]:
        settings = _settings(state)
        page = await service.product_everywhere(
            db, reader, sku, now=datetime.now(UTC), threshold=settings.low_stock_threshold
        )
        base = links.public_base(settings.public_url, request)
        context = {
            "base": base,
            "page": page,
            "json_ld": rules.json_ld_text(jsonld.product_everywhere(base, page)),
            "links": links,
            "rules": rules,
        }
        return html_page(request, "product_everywhere.html.j2", context)

    @get("/01/{gtin:str}")
    async def digital_link(
        self,
        request: Request[Any, Any, Any],
        db: Db,
        state: State,
        gtin: FromPath[str],
        store: FromQuery[str | None] = None,
    ) -> Redirect:
        """GS1 Digital Link: a GTIN to the product's page, or to one store's page for it with `?store=`."""
        sku = await service.sku_for_gtin(db, gtin)
        base = links.public_base(_settings(state).public_url, request)
        if store is None:
            target = links.all_stores_product_page(base, sku)
        else:
            await service.public_store(db, store, datetime.now(UTC))
            target = links.product_page(base, store, sku)
        return Redirect(path=target, status_code=307, headers={"Cache-Control": PAGE_CACHE})

    @get("/associate")
    async def associate_console(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        return html_page(request, "associate.html.j2", {}, cache=CONSOLE_CACHE)


__all__ = ["PageController", "error_page"]
