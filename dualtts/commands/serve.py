"""``dualtts serve``: an OpenAI-compatible speech server (``POST /v1/audio/speech``) on FastAPI + uvicorn.

FastAPI and uvicorn are optional dependencies (the ``serve`` extra; gradio, the demo's, brings both too); they
are imported only when this command runs.
"""
from __future__ import annotations

import argparse

from dualtts.commands.common import add_device

EPILOG = """\
endpoints:
  POST /v1/audio/speech  OpenAI's fields: model, input, voice, response_format, speed, stream_format
                         (instructions is accepted and ignored)
  GET  /v1/models        the model (also answering to tts-1, tts-1-hd and gpt-4o-mini-tts)
  GET  /v1/voices        the voices; GET /health: 200 once the model is loaded (503 before, or if it failed)

voices: 'default' is the model's own voice; OpenAI's names (alloy, ash, ballad, coral, echo, fable, nova, onyx,
  sage, shimmer, verse, marin, cedar) are aliases of it. --voices DIR adds a voice per clip DIR/NAME.wav
  (0.5 to 15 s of one speaker) with its transcript DIR/NAME.txt (optional: without it the offline ASR, the eval
  extra, transcribes the clip once). A NAME is letters, digits, '_' and '-'; a clip of an OpenAI name replaces
  the alias. Clips added while the server runs are found.
formats: pcm (raw 16-bit little-endian mono, 24 kHz) and wav stream sentence by sentence as they are spoken
  (the streamed wav's header gives no length); flac, mp3 and opus (Ogg) arrive whole; aac needs PyAV.
  Default: mp3, as OpenAI's.
speed: 0.25 to 4, by a time stretch that keeps the pitch (WSOLA).
busy: one request is spoken at a time; --queue more wait; beyond that the answer is 429 with Retry-After.

example:
  dualtts serve --voices voices/ &
  curl -s localhost:8000/v1/audio/speech -H 'Content-Type: application/json' \\
       -d '{"model": "tts-1", "input": "Hello there.", "voice": "alloy", "response_format": "wav"}' -o hello.wav
"""


def cmd_serve(a) -> int:
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise SystemExit("error: the server needs FastAPI and uvicorn: pip install 'dualtts[serve]' "
                         "(or pip install fastapi uvicorn)") from None
    from dualtts.serve.app import serve

    options = {k: v for k, v in dict(steps=a.steps, candidates=a.candidates).items() if v is not None}
    print(f"DualTTS speech server on http://{a.host}:{a.port}/v1/audio/speech (Ctrl-C to stop); loading the model")
    serve(model=a.model, host=a.host, port=a.port, voices=a.voices, max_queue=a.queue, max_chars=a.max_chars,
          max_upload_mb=a.max_upload_mb, device=a.device, language=a.language, options=options)
    return 0


def _positive(kind):
    def parse(s: str):
        try:
            n = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
        if not n > 0:
            raise argparse.ArgumentTypeError(f"{s}: must be above 0")
        return n

    return parse


def add_parsers(sub) -> None:
    s = sub.add_parser("serve", help="OpenAI-compatible speech server: POST /v1/audio/speech (FastAPI + uvicorn)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--model", default=None, help="model folder with codec/ lm/ flow/ (default: the shipped dualtts-mini)")
    s.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--voices", default=None, metavar="DIR", help="folder of voice clips NAME.wav (+ transcripts NAME.txt)")
    s.add_argument("--queue", type=_positive(int), default=8, metavar="N",
                   help="requests that may wait while one is spoken; more get 429 with Retry-After (default: 8)")
    s.add_argument("--max-chars", type=_positive(int), default=4096, metavar="N",
                   help="longest input of one request, in characters (default: 4096, OpenAI's)")
    s.add_argument("--max-upload-mb", type=_positive(float), default=1.0, metavar="N",
                   help="largest request body in MB; larger ones get 413 (default: 1)")
    s.add_argument("--steps", type=_positive(int), default=None, help="acoustic stage steps (default: 16)")
    s.add_argument("--candidates", type=_positive(int), default=None,
                   help="LM samples per sentence, the token reader keeps the best (default: the model's, 16 for the "
                        "shipped model; 1 is several times faster)")
    s.add_argument("--language", default="en-us", help="espeak-ng voice of the phonemizer (default en-us)")
    add_device(s)
    s.set_defaults(func=cmd_serve)
