from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import JSONBody, QueryParameter
from litestar.response import Stream

from commerce.ads import service
from commerce.ads.exports import stream_audience, stream_conversions
from commerce.ads.reports import omnichannel_report
from commerce.ads.rules import Network
from commerce.ads.schemas import AdClickIn, AdClickOut, ExportFormat, OmnichannelReport
from commerce.auth.guards import allow
from commerce.auth.schemas import CUSTOMER, Principal
from commerce.db import Db
from commerce.errors import InvalidState, Unprocessable, created_response, problem_responses
from commerce.openapi import STREAMED
from commerce.segments.routes import SegmentIdPath
from commerce.segments.service import get_segment
from commerce.settings import Settings

# Litestar adds `; charset=utf-8` to text/ types itself.
MEDIA_TYPES: dict[str, str] = {
    "google_csv": "text/csv",
    "csv": "text/csv",
    "meta_ndjson": "application/x-ndjson",
    "ndjson": "application/x-ndjson",
}
STREAMED["/v1/exports/offline-conversions"] = ("text/csv", "application/x-ndjson")
STREAMED["/v1/exports/audiences/{segment_id}"] = ("text/csv",)

Since = Annotated[datetime, QueryParameter(description="Start of the period, RFC 3339 with offset (inclusive)")]
Until = Annotated[datetime, QueryParameter(description="End of the period, RFC 3339 with offset (exclusive)")]


def _period(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise Unprocessable("`since` and `until` need an offset (RFC 3339).")
    if until <= since:
        raise Unprocessable("`until` must be after `since`.")


CLICK_DOC = """Records a click on an ad so that a later in-store purchase by the same shopper can be reported to the
network as an offline conversion. `click_id` is the landing URL's `gclid`, `gbraid` or `wbraid` (google; say which
in `click_id_type`, default `gclid`) or `fbclid` (meta): 10 to 512 letters, digits, `-` and `_`. `clicked_at` may
not be in the future (5 minutes of clock skew allowed) nor more than a year ago.

A customer token's click is that customer's. An anonymous click (a storefront key) needs `cart_id`: the click joins
whoever the cart comes to belong to (its owner now, the customer it is merged into at sign-in, or the customer who
checks it out); that join is made when the click is recorded if the cart already has an owner, and otherwise by
every export and report. Only an admin key may name `customer_id`.

The same (network, click_id) again is the same click: 200 with the click as first recorded (a later repeat only
fills in a customer or cart the first lacked); a new click is 201. `customer_id` is shown only to that customer
and to admin keys."""


class AdClickController(Controller):
    path = "/v1/ad-clicks"
    tags = ["Ads"]
    guards = [allow("storefront", CUSTOMER)]

    @post(
        "/",
        summary="Record an ad click",
        description=CLICK_DOC,
        status_code=200,
        responses={**created_response(AdClickOut, "A new click"), **problem_responses(401, 403, 404, 422)},
    )
    async def record(
        self, db: Db, request: Request[Principal, Any, Any], data: JSONBody[AdClickIn]
    ) -> Response[AdClickOut]:
        click, created = await service.record_click(db, request.user, data)
        return Response(click, status_code=201 if created else 200)


EXPORT_DOC = """Every in-store purchase of the period (a till sale linked to a customer, valued at the till's prices;
a collected pickup order, valued at its pickup lines, at the time it was collected) by a customer whose last click of
`network` at or before the purchase lies within the network's window (90 days for google, 28 for meta; settings
`COMMERCE_ADS_GOOGLE_WINDOW_DAYS`, `COMMERCE_ADS_META_WINDOW_DAYS`). The last click wins.

Customers without marketing consent (email or sms) at the time of the export are left out; a hashed email is sent
only with email consent and a hashed phone only with sms consent. Email and phone are normalised by the network's
rules (google: trimmed, lowercased, dots and `+suffix` removed for gmail.com and googlemail.com, phone E.164 with
`+`; meta: trimmed, lowercased, phone digits with country code and no `+`) and SHA-256 hashed (hex). Each row has a
stable `conversion_id` (`pos:{store}:{event_id}` or `order:{id}`): re-uploading a period deduplicates.

Formats: `google_csv` (network google): the click-conversion upload file, a `Parameters:TimeZone=+0000` row, the
header `Google Click ID,Conversion Name,Conversion Time,Conversion Value,Conversion Currency` and one row per
purchase whose last click is a gclid (conversion name from `COMMERCE_ADS_GOOGLE_CONVERSION_NAME`, time
`yyyy-mm-dd hh:mm:ss+00:00`, value in major units, e.g. `19.99`). A purchase whose last click is a `gbraid` or
`wbraid` is not in this file: Google's click-conversion file template has a Google Click ID column only, and
documents gbraid and wbraid for the Google Ads API upload (`ClickConversion.gbraid` / `.wbraid`, exactly one
of gclid, gbraid and wbraid per conversion, and no user identifiers with a gbraid or wbraid). Those purchases
are in `ndjson`, with `click.click_id_type` saying which, for an API upload. `meta_ndjson` (network meta): one Conversions API
server event per line (`event_name` `Purchase`, `action_source` `physical_store`, unix `event_time`, `event_id`,
`user_data` with `em`, `ph`, `fbc` and hashed `external_id`, `custom_data` with decimal `value`, `currency`,
`order_id`, `contents`), ready to be sent in batches as `data`. `ndjson`: this service's own rows with everything.
Streamed in time order."""


class ExportController(Controller):
    path = "/v1/exports"
    tags = ["Ads"]
    guards = [allow("ads")]

    @get(
        "/offline-conversions",
        summary="In-store purchases as offline conversions of ad clicks",
        description=EXPORT_DOC,
        response_description="CSV (`google_csv`) or NDJSON (`meta_ndjson`, `ndjson`)",
        responses=problem_responses(401, 403, 422),
    )
    async def offline_conversions(
        self,
        db: Db,
        state: State,
        network: Annotated[Network, QueryParameter(description="google or meta")],
        since: Since,
        until: Until,
        format: Annotated[ExportFormat, QueryParameter(description="google_csv, meta_ndjson or ndjson")] = "ndjson",
    ) -> Stream:
        _period(since, until)
        if (format, network) in {("google_csv", "meta"), ("meta_ndjson", "google")}:
            raise Unprocessable(f"format={format} is for the other network, not {network}.")
        # Committed before the body is streamed: the export's own connection sees the joins.
        await service.resolve_cart_owners(db)
        settings: Settings = state.settings
        rows = stream_conversions(state.engine, settings, network=network, fmt=format, since=since, until=until)
        return Stream(rows, media_type=MEDIA_TYPES[format])

    @get(
        "/audiences/{segment_id:str}",
        summary="A segment's consented members for an ad network's customer list",
        description="The segment's members who consent to marketing, as the network's customer-list file (CSV): "
        "header `Email,Phone` (google Customer Match) or `email,phone` (meta custom audience), then one row per "
        "member with the SHA-256 of the email (with email consent) and of the phone (with sms consent), "
        "normalised by the network's rules as in the offline-conversion export; a member with neither is left "
        "out. Upload it to target the segment or to exclude it (stop retargeting people who just bought). A "
        "segment still being backfilled after a change is 409 `invalid_state`: its list would be incomplete.",
        response_description="CSV",
        responses=problem_responses(401, 403, 404, 409, 422),
    )
    async def audience(
        self,
        db: Db,
        state: State,
        segment_id: SegmentIdPath,
        network: Annotated[Network, QueryParameter(description="google or meta")],
    ) -> Stream:
        segment = await get_segment(db, segment_id)
        if segment.status != "ready":
            raise InvalidState(f"Segment {segment_id!r} is still being computed; export it once it is ready.")
        rows = stream_audience(state.engine, state.settings, segment=segment_id, network=network)
        return Stream(rows, media_type=MEDIA_TYPES["csv"])


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["Ads"]
    guards = [allow()]

    @get(
        "/omnichannel",
        summary="Online and in-store together: clicks, pickups, cross-channel shoppers",
        description="For the period [since, until): store revenue influenced by ad clicks (in-store purchases "
        "credited to the last click of each network within its window, by network and campaign), pickup orders "
        "placed and their no-show rate (expired / (collected + expired)), web and mobile orders collected in "
        "store, and customers' till sales by customers who also order online (beside all customers' till sales). One "
        "SQL statement per figure.",
        responses=problem_responses(401, 403, 422),
    )
    async def omnichannel(self, db: Db, state: State, since: Since, until: Until) -> OmnichannelReport:
        _period(since, until)
        settings: Settings = state.settings
        await service.resolve_cart_owners(db)
        return await omnichannel_report(
            db,
            since,
            until,
            google_window_days=settings.ads_google_window_days,
            meta_window_days=settings.ads_meta_window_days,
        )
