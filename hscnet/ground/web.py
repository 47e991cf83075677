"""The web layer of ``hscnet serve``: a Starlette app over a ``GroundingService``.

Every answer the app gives is JSON ``{"error": "one line"}`` when something is wrong: 4xx for a bad
request (the command line's message), 500 for a bug (its traceback goes to the log, and the server goes
on). ``LocalPage`` lets nothing but the page itself in, and marks every answer so that no browser runs
or sniffs anything the page did not write.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hscnet.errors import InputError, MissingInputError
from hscnet.ground.page import PAGE, SCRIPT, STYLE
from hscnet.ground.service import VIDEO_TYPES, Busy, GroundingService, TooLarge, UploadStalled, json_kind

LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")
MAX_REQUEST_BYTES = 1 << 20  # a POST /api/ground body: a paragraph of text
BUSY_RETRY_S = 10
# Only the page's own script and style, and nothing may frame it.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
STATUS_OF_ERROR = ((MissingInputError, 404), (TooLarge, 413), (UploadStalled, 408), (Busy, 503), (InputError, 400))


class LocalPage:
    """ASGI middleware: 403 for a request whose Host is not this server's local address (a web page whose name
    resolves to 127.0.0.1 sends its own name), and for one that changes something (not GET or HEAD) unless
    it is JSON (an upload excepted) and any Origin it carries is the page's. Starlette's TrustedHostMiddleware
    answers 400 and ignores the port, so this is its stricter counterpart."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.port = port
        self.hosts = {f"{name}:{port}" for name in LOCAL_NAMES} | (set(LOCAL_NAMES) if port == 80 else set())
        self.origins = {f"http://{host}" for host in self.hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-content-type-options", b"nosniff"),
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"cache-control", b"no-store"),  # job states change; the rest is small or ranged
                ]
            await send(message)

        refusal = self.refusal(Headers(scope=scope), scope["method"], scope["path"])
        if refusal is None:
            await self.app(scope, receive, send_marked)
        else:
            await one_line(403, refusal)(scope, receive, send_marked)

    def refusal(self, headers: Headers, method: str, path: str) -> str | None:
        """Why the request is refused, or None."""
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            return f"Host {host!r}: this server answers its own page only, at 127.0.0.1, localhost or [::1]:{self.port}"
        if method in ("GET", "HEAD"):
            return None
        origin = headers.get("origin")
        if origin is not None and origin.lower() not in self.origins:
            return f"Origin {origin!r}: only the page of this server may change anything on it"
        content_type = headers.get("content-type", "")
        is_json = content_type.split(";")[0].strip().lower() == "application/json"
        if not is_json and (method, path) != ("PUT", "/api/videos"):  # an upload's body is the video
            return f"Content-Type {content_type!r}: a request that changes anything must be application/json"
        return None


def one_line(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.splitlines())}, status, headers)


def build_app(service: GroundingService, port: int, on_ready: Callable[[], None] = lambda: None) -> ASGIApp:
    """The page and its API over ``service``, listening on ``port``; ``on_ready`` once the worker runs."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.start()
        on_ready()
        try:
            yield
        finally:
            await asyncio.to_thread(service.stop)

    app = Starlette(
        routes=[
            Route("/", _fixed(PAGE, "text/html; charset=utf-8")),
            Route("/page.js", _fixed(SCRIPT, "text/javascript; charset=utf-8")),
            Route("/page.css", _fixed(STYLE, "text/css; charset=utf-8")),
            Route("/api/videos", video_list, methods=["GET"]),
            Route("/api/videos", upload, methods=["PUT"]),
            Route("/api/ground", ground, methods=["POST"]),
            Route("/api/jobs/{job_id}", job_status),
            Route("/api/jobs/{job_id}/thumbnails.png", thumbnails),
            Route("/media/{video_id}", media),
        ],
        exception_handlers={InputError: input_error, HTTPException: http_error, Exception: unexpected_error},
        lifespan=lifespan,
    )
    app.state.service = service
    return LocalPage(app, port)


def _fixed(text: str, media_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        return Response(text, media_type=media_type)

    return answer


def _service(request: Request) -> GroundingService:
    return request.app.state.service


async def video_list(request: Request) -> JSONResponse:
    return JSONResponse(_service(request).video_list())


async def upload(request: Request) -> JSONResponse:
    """``PUT /api/videos?name=NAME`` with the video as the body."""
    name = request.query_params.get("name", "")
    return JSONResponse(await _service(request).add_upload(name, _body_chunks(request), _declared_length(request)))


async def ground(request: Request) -> JSONResponse:
    """``POST /api/ground`` with ``{"video": ID, "paragraph": TEXT or [SENTENCE, ...]}``: 202 and the job's id."""
    video, paragraph = _grounding_request(await _small_body(request))
    job_id = await asyncio.to_thread(_service(request).submit, video, paragraph)  # spaCy splits the text
    return JSONResponse({"job": job_id}, 202)


async def job_status(request: Request) -> JSONResponse:
    return JSONResponse(_service(request).job(request.path_params["job_id"]).status())


async def thumbnails(request: Request) -> FileResponse:
    job_id = request.path_params["job_id"]
    path = _service(request).job(job_id).thumbnails
    if path is None:
        raise MissingInputError(f"job {job_id}: no thumbnails yet")
    return FileResponse(path, media_type="image/png", stat_result=_stat(path, f"job {job_id}: thumbnails"))


async def media(request: Request) -> FileResponse:
    """A video, with byte ranges (the player seeks with them), as a video type: never a page a browser runs."""
    name, path = _service(request).video(request.path_params["video_id"])
    media_type = VIDEO_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media_type, stat_result=_stat(path, name))


def _stat(path: Path, name: str) -> os.stat_result:
    try:
        return path.stat()
    except OSError as err:
        raise MissingInputError(f"{name}: the file is gone from the server ({err.strerror})") from err


def _declared_length(request: Request) -> int | None:
    """The request's Content-Length (h11 has refused one that is not a number), or None."""
    value = request.headers.get("content-length")
    return int(value) if value is not None else None


async def _body_chunks(request: Request) -> AsyncIterator[bytes]:
    """The body as it arrives; it ends early when the client goes away (the reader counts what came)."""
    with contextlib.suppress(ClientDisconnect):
        async for chunk in request.stream():
            if chunk:
                yield chunk


async def _small_body(request: Request) -> bytes:
    declared = _declared_length(request)
    if declared is not None and declared > MAX_REQUEST_BYTES:
        raise TooLarge(f"{declared} bytes: a grounding request takes at most {MAX_REQUEST_BYTES} (one paragraph)")
    body, stall_s = b"", _service(request).upload_stall_s
    try:
        async with asyncio.timeout(stall_s):  # at most 1 MB: one deadline for all of it
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_REQUEST_BYTES:
                    raise TooLarge(f"over {MAX_REQUEST_BYTES} bytes: a grounding request takes at most that")
    except TimeoutError:
        raise UploadStalled(f"the grounding request stalled (not all sent after {stall_s:g} s)") from None
    return body


def _grounding_request(body: bytes) -> tuple[str, object]:
    """The video id and the paragraph of a grounding request's JSON body."""
    try:
        request = json.loads(body)
    except RecursionError:
        raise InputError("the request's JSON is nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(f"the request is not JSON: {err}") from None
    if not isinstance(request, dict):
        raise InputError('the request must be a JSON object: {"video": ID, "paragraph": TEXT or [SENTENCE, ...]}')
    video = request.get("video")
    if not isinstance(video, str):
        raise InputError(f'"video" is {json_kind(video)}; give a video id (a string) from GET /api/videos')
    return video, request.get("paragraph")


async def input_error(request: Request, err: InputError) -> JSONResponse:
    status = next(code for kind, code in STATUS_OF_ERROR if isinstance(err, kind))
    headers = {"Retry-After": str(BUSY_RETRY_S)} if isinstance(err, Busy) else {}
    if request.method in ("PUT", "POST"):  # the rest of a refused body may still be on its way
        headers["Connection"] = "close"
    return one_line(status, _service(request).user_message(err), headers)


async def http_error(request: Request, err: HTTPException) -> JSONResponse:
    messages = {404: f"{request.url.path}: no such page", 405: f"{request.method} {request.url.path}: not allowed"}
    return one_line(err.status_code, messages.get(err.status_code, str(err.detail)), err.headers)


async def unexpected_error(request: Request, err: Exception) -> JSONResponse:
    """A bug: one line to the client; Starlette raises the error again, and uvicorn logs its traceback."""
    return one_line(500, f"unexpected {type(err).__name__}: {err} (traceback in the server's log)")
