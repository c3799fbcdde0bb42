"""The HTTP face of the speech server (FastAPI): OpenAI's speech endpoint and its neighbours.

    POST /v1/audio/speech   {"model", "input", "voice", "response_format", "speed", "stream_format", "instructions"}
    GET  /v1/models, /v1/models/{id}, /v1/voices, /health

Every error is OpenAI's shape, ``{"error": {"message", "type", "code"}}``, with one line of message and never a
traceback: 400 a bad field (empty or too long text, unknown format, speed out of range, a malformed voice name),
404 an unknown model or voice (or path), 413 a body over the limit, 429 the queue is full (with Retry-After),
503 the model could not be loaded, 500 anything else.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException

from dualtts.serve.audio import MEDIA_TYPES, STREAMED, Encoder, available_formats, format_problem
from dualtts.serve.engine import Job, ModelUnavailable, QueueFull, SpeechWorker, VoiceUnusable
from dualtts.serve.voices import OPENAI_VOICES, VoiceError

log = logging.getLogger("dualtts.serve")
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")  # accepted as names of the one model served
TYPES = {400: "invalid_request_error", 404: "invalid_request_error", 413: "invalid_request_error",
         429: "rate_limit_exceeded", 503: "server_error", 500: "server_error"}


class SpeechRequest(BaseModel):
    """The body of ``POST /v1/audio/speech`` (OpenAI's fields; others are ignored)."""

    model_config = ConfigDict(extra="ignore")
    input: str
    model: str | None = None
    voice: str | dict = "default"
    response_format: str | None = None  # None: mp3, as OpenAI (wav where mp3 cannot be written)
    speed: float = Field(1.0, ge=0.25, le=4.0)
    stream_format: str = "audio"
    instructions: str | None = None  # accepted and ignored: the voice is the prompt clip's


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, " ".join(message.split()), code, headers


def error_response(status: int, message: str, code: str | None = None, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"message": " ".join(str(message).split()), "type": TYPES.get(status, "server_error"), "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` (by its Content-Length, or as it arrives) -> 413."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers", [])).get(b"content-length")
        too_big = f"the request body is over the limit of {self.max_bytes / 2**20:g} MB"
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await error_response(413, too_big, "request_too_large")(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, too_big)
            return message

        await self.app(scope, limited, send)


def _speech_error(e: BaseException) -> ApiError:
    """An exception of a job -> the error to answer with."""
    from dualtts.data.audio import AudioError

    if isinstance(e, ApiError):
        return e
    if isinstance(e, VoiceError):
        return ApiError(e.status, str(e), e.code)
    if isinstance(e, ModelUnavailable):
        return ApiError(503, str(e), "model_unavailable")
    if isinstance(e, VoiceUnusable):
        return ApiError(500, str(e), "voice_unusable")
    if isinstance(e, AudioError):  # the only audio read is the server's own voice clips: not the client's fault
        return ApiError(500, f"the voice clip could not be used: {e.problem}", "voice_unusable")
    if isinstance(e, ValueError):  # the project's one-line input errors (TextError: unspeakable text, ...)
        return ApiError(400, str(e), "invalid_input")
    log.error("request failed", exc_info=(type(e), e, e.__traceback__))
    return ApiError(500, f"internal error ({type(e).__name__}): {' '.join(str(e).split())[:300]}", "internal_error")


def create_app(worker: SpeechWorker, model_id: str = "dualtts", max_body_bytes: int = 2**20) -> FastAPI:
    """The app on ``worker`` (started with the app, stopped with it). ``model_id``: the name the model is listed
    under (OpenAI's tts-1, tts-1-hd and gpt-4o-mini-tts are accepted too)."""
    created = int(worker.engine.root.stat().st_mtime) if worker.engine.root.exists() else 0
    model_names = (model_id,) + OPENAI_MODELS

    @asynccontextmanager
    async def lifespan(_app):
        worker.start()
        yield
        worker.stop()

    app = FastAPI(title="DualTTS speech server", lifespan=lifespan, docs_url="/docs", redoc_url=None)
    app.state.worker = worker
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(_request, e: ApiError):
        return error_response(e.status, e.message, e.code, e.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(_request, e: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(e.status_code)
        return error_response(e.status_code, str(e.detail), code, getattr(e, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request, e: RequestValidationError):
        return error_response(400, str(e.errors()[:1]), "invalid_request")

    @app.exception_handler(Exception)
    async def _internal(_request, e: Exception):
        err = _speech_error(e)
        return error_response(err.status, err.message, err.code)

    @app.get("/health")
    async def health():
        body = {"status": "ok" if worker.ready.is_set() and worker.load_error is None else
                ("loading" if not worker.ready.is_set() else "error"),
                "model": model_id, "queue": {"waiting": worker.waiting, "max": worker.jobs.maxsize,
                                             "running": worker.running is not None},
                "served": worker.served, "formats": available_formats()}
        if worker.load_error:
            body["error"] = worker.load_error
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    def _model(name: str) -> dict:
        return {"id": name, "object": "model", "created": created, "owned_by": "dualtts"}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [_model(m) for m in model_names]}

    @app.get("/v1/models/{name}")
    async def model(name: str):
        if name not in model_names:
            raise ApiError(404, f"unknown model {name[:80]!r}: one of {', '.join(model_names)}", "model_not_found")
        return _model(name)

    @app.get("/v1/voices")
    async def voices():
        return {"object": "list", "data": worker.voices.listing()}

    @app.post("/v1/audio/speech")
    async def speech(request: Request):
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the body is not valid JSON", "invalid_json") from None
        try:
            req = SpeechRequest.model_validate(data)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "body"
            raise ApiError(400, f"{where}: {first['msg']}", "invalid_value") from None
        if req.model is not None and req.model not in model_names:
            raise ApiError(404, f"unknown model {req.model[:80]!r}: one of {', '.join(model_names)}", "model_not_found")
        fmt = req.response_format or ("mp3" if format_problem("mp3") is None else "wav")
        problem = format_problem(fmt)
        if problem:
            raise ApiError(400, problem, "unsupported_response_format")
        if req.stream_format not in ("audio", "sse"):
            raise ApiError(400, f"unknown stream_format {req.stream_format[:40]!r}: audio or sse", "invalid_value")
        try:
            text, _ = worker.engine.check(req.input)
            worker.voices.resolve(req.voice)
        except Exception as e:  # noqa: BLE001
            raise _speech_error(e) from None
        if worker.load_error is not None:
            raise ApiError(503, f"the model could not be loaded ({worker.load_error}; the server's log says why)",
                           "model_unavailable")

        loop, events = asyncio.get_running_loop(), asyncio.Queue()

        def emit(kind, value):  # (from the worker thread)
            try:
                loop.call_soon_threadsafe(events.put_nowait, (kind, value))
            except RuntimeError:  # the loop is closed: nobody is listening any more
                job.cancelled.set()

        voice = req.voice.get("id") if isinstance(req.voice, dict) else req.voice
        job = Job(text, voice, lambda sr: Encoder(fmt, sr), emit, speed=req.speed)
        try:
            worker.submit(job)
        except QueueFull as e:
            raise ApiError(429, f"{e}; at most {worker.jobs.maxsize} requests wait while one runs", "queue_full",
                           {"Retry-After": str(e.retry_after)}) from None
        t0 = time.monotonic()
        first = await _next_event(events, request, job)
        if first is None:
            return Response(status_code=499)  # the client went away (nobody reads this)
        if first[0] == "error":
            raise _speech_error(first[1])
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                   "X-First-Audio-Seconds": f"{time.monotonic() - t0:.3f}"}
        if req.stream_format == "sse":
            return StreamingResponse(_sse(first, events, job, text), media_type="text/event-stream", headers=headers)
        if fmt not in STREAMED:  # encoded whole: one body, with its length
            done = await _next_event(events, request, job)
            if done is None or done[0] == "error":
                job.cancelled.set()
                if done is None:
                    return Response(status_code=499)
                raise _speech_error(done[1])
            return Response(first[1], media_type=MEDIA_TYPES[fmt], headers=headers)
        return StreamingResponse(_audio(first, events, job), media_type=MEDIA_TYPES[fmt], headers=headers)

    return app


async def _next_event(events: asyncio.Queue, request: Request, job: Job):
    """The job's next event, or None (and the job cancelled) when the client disconnects first."""
    while True:
        try:
            return await asyncio.wait_for(events.get(), timeout=0.5)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                job.cancelled.set()
                return None


async def _audio(first, events: asyncio.Queue, job: Job):
    """The response body: each piece as the worker makes it (a failure midway ends the stream early)."""
    try:
        event = first
        while event[0] == "bytes":
            yield event[1]
            event = await events.get()
        if event[0] == "error":
            log.error("the stream ended early: %s", _speech_error(event[1]).message)
    finally:
        job.cancelled.set()  # finished, or the client went away: the worker stops at its next sentence


async def _sse(first, events: asyncio.Queue, job: Job, text: str):
    """OpenAI's server-sent events: ``speech.audio.delta`` with base64 audio, then ``speech.audio.done`` with the
    usage (input: characters; output: seconds of audio x 25, the codec's frames)."""
    try:
        event = first
        while event[0] == "bytes":
            yield f"data: {json.dumps({'type': 'speech.audio.delta', 'audio': base64.b64encode(event[1]).decode()})}\n\n"
            event = await events.get()
        if event[0] == "error":
            err = _speech_error(event[1])
            yield f"data: {json.dumps({'type': 'error', 'error': {'message': err.message, 'code': err.code}})}\n\n"
            return
        frames = int(round(event[1].get("response_seconds", 0.0) * 25))
        usage = {"input_tokens": len(text), "output_tokens": frames, "total_tokens": len(text) + frames}
        yield f"data: {json.dumps({'type': 'speech.audio.done', 'usage': usage})}\n\n"
    finally:
        job.cancelled.set()


def serve(model: str | None = None, host: str = "127.0.0.1", port: int = 8000, voices: str | None = None, max_queue: int = 8,
          max_chars: int = 4096, max_upload_mb: float = 1.0, device: str = "auto", language: str = "en-us",
          options: dict | None = None) -> None:
    """Run the server until Ctrl-C (what ``dualtts serve`` does)."""
    import uvicorn

    app = build(model, voices, max_queue, max_chars, max_upload_mb, device, language, options)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=5)


def build(model: str | None = None, voices: str | None = None, max_queue: int = 8, max_chars: int = 4096,
          max_upload_mb: float = 1.0, device: str = "auto", language: str = "en-us", options: dict | None = None) -> FastAPI:
    """The app for a model folder and a voices folder (its worker starts with the app)."""
    from dualtts.serve.engine import SpeechEngine
    from dualtts.serve.voices import VoiceLibrary

    engine = SpeechEngine(model, device=device, language=language, max_chars=max_chars)
    library = VoiceLibrary(voices, has_default=engine.has_default_voice())
    worker = SpeechWorker(engine, library, max_queue=max_queue, options=options)
    return create_app(worker, model_id=engine.root.name or "dualtts", max_body_bytes=int(max_upload_mb * 2**20))


__all__ = ["OPENAI_MODELS", "OPENAI_VOICES", "SpeechRequest", "build", "create_app", "serve"]
