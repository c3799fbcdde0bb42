"""``dualtts demo``: the web demo (text to speech, and the codec at any number of layers) in a browser.

gradio is an optional dependency (``pip install -r requirements-demo.txt``, or ``scripts/install.sh --demo``);
it is imported only when this command runs.
"""
from __future__ import annotations

from dualtts.commands.common import add_device


def cmd_demo(a) -> int:
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise SystemExit("error: the demo needs gradio: pip install gradio (or bash scripts/install.sh --demo)") from None
    # demo/ is the layer above dualtts: this command is its entry point, the one upward import tests/test_imports.py allows
    from dualtts.demo.app import launch
    print(f"DualTTS demo on http://{a.host}:{a.port} (Ctrl-C to stop); the model loads on the first request")
    launch(model=a.model, device=a.device, host=a.host, port=a.port, share=a.share, max_queue=a.max_queue)
    return 0


def _positive_int(s: str) -> int:
    import argparse

    try:
        n = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {s!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n}: at least 1")
    return n


def add_parsers(sub) -> None:
    d = sub.add_parser("demo", help="web demo: text to speech with a voice prompt, and codec reconstruction (gradio)")
    d.add_argument("--model", default=None, help="model folder with codec/ lm/ flow/ (default: the shipped dualtts-mini)")
    d.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    d.add_argument("--port", type=int, default=7860)
    d.add_argument("--max-queue", type=_positive_int, default=16, metavar="N",
                   help="requests that may wait while one runs; more are refused with 'queue is full' (default: 16)")
    d.add_argument("--share", action="store_true", help="also make a temporary public gradio.live link (needs internet)")
    add_device(d)
    d.set_defaults(func=cmd_demo)
