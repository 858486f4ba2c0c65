"""Starlette app answering like F&O's `/data` OData endpoint, backed by an FnoState."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulators.fno.batch import run_batch
from simulators.fno.errors import ODataError, bad_request, not_found
from simulators.fno.filter import parse_key
from simulators.fno.metadata import metadata_document
from simulators.fno.query import QueryOptions, order, parse_options, project
from simulators.fno.schema import EntitySchema
from simulators.fno.state import FnoState, Record

ODATA_JSON = (
    "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"
)
_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\))?(/\$count)?", re.DOTALL)
_MAX_PAGE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.IGNORECASE)


class _Json(JSONResponse):
    media_type = ODATA_JSON

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _error(error: ODataError) -> Response:
    headers = {"OData-Version": "4.0", **error.headers}
    return _Json(error.body(), status_code=error.status, headers=headers)


def _throttled(retry_after: float, reason: str) -> ODataError:
    # F&O sends whole seconds; a benchmark running on scaled-down time needs fractions (":g" keeps "1").
    return ODataError(
        429,
        f"The request was throttled by the service protection API limits ({reason}).",
        error_type="Microsoft.Dynamics.Platform.Integration.Services.OData.ThrottlingException",
        headers={"Retry-After": f"{retry_after:g}"},
    )


class _Handler:
    def __init__(self, state: FnoState) -> None:
        self.state = state

    async def handle(self, request: Request) -> Response:
        status = 500
        self.state.offer(1)
        try:
            response = await self._guarded(request)
        except ODataError as error:
            response = _error(error)
        finally:
            self.state.offer(-1)
        status = response.status_code
        query = unquote_plus(request.scope.get("query_string", b"").decode("latin-1"))
        entry = {"method": request.method, "path": request.scope["path"], "query": query, "status": status}
        if "if-match" in request.headers:
            entry["if_match"] = request.headers["if-match"]  # tests check which writes were conditional
        with self.state.lock:
            self.state.request_log.append(entry)
        return response

    async def _guarded(self, request: Request) -> Response:
        if request.headers.get("authorization", "") != f"Bearer {self.state.token}":
            return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})
        retry_after = self.state.take_throttle()
        if retry_after is not None:
            raise _throttled(retry_after, "number of requests")
        over = self.state.take_rate_slot()
        if over is not None:
            raise _throttled(round(over, 3), "number of requests")
        if not self.state.enter_request():
            raise _throttled(1, "concurrent requests")
        try:
            if self.state.latency:
                await asyncio.sleep(self.state.latency)
            return await self._dispatch(request)
        finally:
            self.state.leave_request()

    async def _dispatch(self, request: Request) -> Response:
        # The decoded path: a key literal may hold an encoded ? or # that request.url would misread.
        rest = str(request.scope["path"])[len("/data") :].lstrip("/")
        if rest == "":
            return self._service_document(request)
        if rest == "$metadata" and request.method == "GET":
            with self.state.lock:
                document = metadata_document(list(self.state.entities.values()))
            return Response(document, media_type="application/xml", headers={"OData-Version": "4.0"})
        if rest == "$batch" and request.method == "POST":
            return await run_batch(request, self.state, self._inner)
        match = _SEGMENT.fullmatch(rest)
        if match is None or match.group(1) not in self.state.entities:
            raise not_found()
        entity = self.state.entity(match.group(1))
        key_text, count_segment = match.group(2), match.group(3)
        params = list(request.query_params.multi_items())
        cross = any(name.lower() == "cross-company" and value.lower() == "true" for name, value in params)
        company = None if cross else self.state.default_company
        method = request.method
        if key_text is None:
            if method == "GET":
                options = parse_options(params, entity)
                if count_segment:
                    return Response(
                        str(len(self._matching(entity, options, company))), media_type="text/plain"
                    )
                return self._collection(request, entity, options, company)
            if method == "POST" and not count_segment:
                return await self._create(request, entity)
        elif not count_segment:
            key = parse_key(key_text, entity)
            if method == "GET":
                return self._single(request, entity, key, params, company)
            if method == "PATCH":
                return await self._patch(request, entity, key, company)
            if method == "DELETE":
                return self._delete(request, entity, key, company)
        raise ODataError(405, f"The HTTP method '{method}' is not supported for this resource.")

    async def _inner(self, request: Request) -> Response:
        """One request inside a $batch: errors become that part's response."""
        try:
            if str(request.scope["path"]).rstrip("/").endswith("$batch"):
                raise bad_request("A $batch request cannot contain another $batch request.")
            return await self._dispatch(request)
        except ODataError as error:
            return _error(error)

    # -- reads -------------------------------------------------------------------------------------------
    def _matching(self, entity: EntitySchema, options: QueryOptions, company: str | None) -> list[Record]:
        rows = self.state.rows(entity, company)
        if options.filter is not None:
            rows = [row for row in rows if options.filter(row)]
        order(rows, options.orderby, entity)
        return rows

    def _collection(
        self, request: Request, entity: EntitySchema, options: QueryOptions, company: str | None
    ) -> Response:
        with self.state.lock:
            rows = self._matching(entity, options, company)
            window = rows[options.skip : None if options.top is None else options.skip + options.top]
            page_size = self.state.page_size
            preferred = _MAX_PAGE.search(request.headers.get("prefer", ""))
            if preferred is not None and int(preferred.group(1)) > 0:
                page_size = min(page_size, int(preferred.group(1)))
            start = options.skiptoken
            page = window[start : start + page_size]
            values = [self._entry(entity, row, options.select) for row in page]
        base = str(request.base_url).rstrip("/")
        select = f"({','.join(options.select)})" if options.select is not None else ""
        body: dict[str, Any] = {"@odata.context": f"{base}/data/$metadata#{entity.name}{select}"}
        if options.count:
            body["@odata.count"] = len(rows)
        body["value"] = values
        if start + page_size < len(window):
            body["@odata.nextLink"] = self._next_link(request, start + page_size)
        headers = {"OData-Version": "4.0"}
        if preferred is not None:
            headers["Preference-Applied"] = f"odata.maxpagesize={page_size}"
        return _Json(body, headers=headers)

    def _next_link(self, request: Request, skiptoken: int) -> str:
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "$skiptoken"]
        pairs.append(("$skiptoken", str(skiptoken)))
        query = urlencode(pairs, quote_via=quote, safe="$'(),:*")
        return str(request.url.replace(query=query))

    def _single(
        self,
        request: Request,
        entity: EntitySchema,
        key: Record,
        params: list[tuple[str, str]],
        company: str | None,
    ) -> Response:
        allowed = [(name, value) for name, value in params if name in ("$select", "$format")]
        if len(allowed) != len([name for name, _ in params if name.startswith("$")]):
            raise bad_request("Only $select is supported when addressing a single entity by key.")
        options = parse_options(allowed, entity)
        with self.state.lock:
            record = self._find(entity, key, company)
            entry = self._entry(entity, record, options.select)
        base = str(request.base_url).rstrip("/")
        body = {"@odata.context": f"{base}/data/$metadata#{entity.name}/$entity", **entry}
        return _Json(body, headers={"OData-Version": "4.0", "ETag": entry["@odata.etag"]})

    def _entry(self, entity: EntitySchema, record: Record, select: list[str] | None) -> Record:
        return {"@odata.etag": self.state.etag(entity, record), **project(record, select)}

    def _find(self, entity: EntitySchema, key: Record, company: str | None) -> Record:
        record = self.state.lookup(entity, key, company)
        if record is None:
            raise not_found(f"No resources were found in '{entity.name}' for the key in the request URI.")
        return record

    # -- writes ------------------------------------------------------------------------------------------
    async def _create(self, request: Request, entity: EntitySchema) -> Response:
        body = await _json_body(request)
        with self.state.lock:
            # F&O inserts into the company named in the body even without cross-company=true.
            record = self.state.insert(entity, body, company=self.state.default_company)
            entry = self._entry(entity, record, None)
        base = str(request.base_url).rstrip("/")
        location = f"{base}/data/{entity.name}({_key_segment(entity, record)})"
        payload = {"@odata.context": f"{base}/data/$metadata#{entity.name}/$entity", **entry}
        headers = {"OData-Version": "4.0", "Location": location, "ETag": entry["@odata.etag"]}
        return _Json(payload, status_code=201, headers=headers)

    async def _patch(
        self, request: Request, entity: EntitySchema, key: Record, company: str | None
    ) -> Response:
        body = await _json_body(request)
        with self.state.lock:
            record = self._find(entity, key, company)
            self._check_etag(request, entity, record)
            self.state.modify(entity, record, body)
        return Response(status_code=204, headers={"OData-Version": "4.0"})

    def _delete(self, request: Request, entity: EntitySchema, key: Record, company: str | None) -> Response:
        with self.state.lock:
            record = self._find(entity, key, company)
            self._check_etag(request, entity, record)
            self.state.remove(entity, record)
        return Response(status_code=204, headers={"OData-Version": "4.0"})

    def _check_etag(self, request: Request, entity: EntitySchema, record: Record) -> None:
        wanted = request.headers.get("if-match")
        if wanted is not None and wanted.strip() != "*" and wanted.strip() != self.state.etag(entity, record):
            raise ODataError(
                self.state.stale_etag_status,
                "The ETag value in the request header does not match the current ETag.",
            )

    def _service_document(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        sets = [{"name": name, "kind": "EntitySet", "url": name} for name in sorted(self.state.entities)]
        return _Json({"@odata.context": f"{base}/data/$metadata", "value": sets})


async def _json_body(request: Request) -> Record:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def _key_segment(entity: EntitySchema, record: Record) -> str:
    parts = []
    for name in entity.keys:
        prop = entity.properties[name]
        literal = "'" + str(record[name]).replace("'", "''") + "'"
        if prop.enum is not None:
            literal = prop.enum.full_name + literal
        parts.append(f"{name}={literal}")
    return quote(",".join(parts), safe="=,'.")


def create_fno_app(state: FnoState) -> Starlette:
    handler = _Handler(state)
    methods = ["GET", "POST", "PATCH", "DELETE", "PUT"]
    return Starlette(
        routes=[
            Route("/data", handler.handle, methods=methods),
            Route("/data/{rest:path}", handler.handle, methods=methods),
        ]
    )
