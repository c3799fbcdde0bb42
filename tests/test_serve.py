"""``dualtts serve``, end to end over real HTTP on a loopback port, with a tiny random model (codec, LM and flow
of a few thousand weights: what it says is noise, how it is served is the point).

The official ``openai`` client speaks to it (``audio.speech.create`` and ``with_streaming_response``), with the
model's default voice and a named voice of a temporary voices folder; plain HTTP checks every error status
(400, 404, 405, 413, 429, 500, 503) and that no voice name reaches a file outside the folder; a burst of 20
concurrent requests against a queue of 2 loses none (each is answered with audio or 429 + Retry-After and
retried) and leaves the process's memory bounded; ``dualtts serve`` itself runs once as a subprocess.
"""
from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import TEXT_A, TEXT_B, TINY_CODEC

httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn", reason="the server needs the serve extra: pip install 'dualtts[serve]'")
pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'dualtts[serve]'")
openai = pytest.importorskip("openai", reason="the client test needs openai: pip install -r requirements-dev.txt")

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ROOT / "recipes" / "mini" / "checkpoints" / "dualtts-mini" / "lm" / "symbols.json"  # a full phoneme table
MAX_CHARS, MAX_QUEUE, MAX_UPLOAD_MB = 300, 2, 0.01
FAST = {"steps": 2, "max_new_tokens": 12}  # the tiny model's settings: a few milliseconds a sentence
RSS_GROWTH_LIMIT = 150 * 2**20  # the burst of 20 requests may add at most this much resident memory


def _tiny_model(root: Path, speech_dir: Path, lm: bool = True) -> Path:
    """codec/ lm/ flow/ of tiny random models and a default voice (``lm=False``: a folder that cannot load)."""
    import torch

    from dualtts.codec.config import DualCodecConfig
    from dualtts.codec.model import DualCodec
    from dualtts.data.text import SymbolTable
    from dualtts.flow.config import get_flow_config
    from dualtts.flow.model import AcousticFlow
    from dualtts.lm.config import get_lm_config
    from dualtts.lm.model import SemanticLM

    torch.manual_seed(0)
    DualCodec(DualCodecConfig.from_dict(TINY_CODEC)).save_pretrained(root / "codec")
    sym = SymbolTable.load(SYMBOLS)
    SemanticLM(get_lm_config("tiny", num_phonemes=len(sym), codebook_size=64, frame_rate=25.0, hidden_size=32, num_layers=1,
                             num_heads=2)).save_pretrained(root / "lm", symbols=sym)
    AcousticFlow(get_flow_config("tiny", latent_dim=32, codebook_size=64, hidden_size=32, num_layers=1,
                                 num_heads=2)).save_pretrained(root / "flow")
    shutil.copy(speech_dir / "male_a.wav", root / "prompt.wav")
    (root / "prompt.txt").write_text(TEXT_A + "\n")
    if not lm:
        (root / "lm" / "model.safetensors").write_bytes(b"not weights")
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc=None, deadline_s: float = 600, want=(200,)) -> dict:
    """Poll ``url/health`` until it answers one of ``want`` -> its JSON."""
    deadline = time.monotonic() + deadline_s
    while True:
        assert proc is None or proc.poll() is None, "the server exited"
        assert time.monotonic() < deadline, f"{url} did not come up"
        try:
            r = httpx.get(url + "/health", timeout=5)
            if r.status_code in want:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.1)


@contextlib.contextmanager
def running(app, want=(200,)):
    """``app`` on uvicorn in a thread on a free loopback port -> its URL (once /health answers ``want``)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.config.port}"
    try:
        _wait(url, want=want)
        yield url
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture(scope="module")
def model(speech_dir, tmp_path_factory) -> Path:
    return _tiny_model(tmp_path_factory.mktemp("serve") / "tiny", speech_dir)


@pytest.fixture(scope="module")
def voices(speech_dir, tmp_path_factory) -> Path:
    """A voices folder: ``female`` (clip + transcript), ``broken`` (an empty file), ``link`` (a symbolic link to
    a clip outside the folder); beside it, outside, ``secret.wav`` and ``secret.txt``."""
    base = tmp_path_factory.mktemp("voices")
    d = base / "voices"
    d.mkdir()
    shutil.copy(speech_dir / "female_b.wav", d / "female.wav")
    (d / "female.txt").write_text(TEXT_B + "\n")
    (d / "broken.wav").write_bytes(b"")
    shutil.copy(speech_dir / "male_b.wav", base / "secret.wav")
    (base / "secret.txt").write_text("a secret transcript\n")
    os.symlink(base / "secret.wav", d / "link.wav")
    return d


@pytest.fixture(scope="module")
def server(model, voices):
    from dualtts.serve.app import build

    app = build(str(model), str(voices), max_queue=MAX_QUEUE, max_chars=MAX_CHARS, max_upload_mb=MAX_UPLOAD_MB,
                device="cpu", options=FAST)
    with running(app) as url:
        yield url, app.state.worker


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server[0] + "/v1", api_key="any", max_retries=0, timeout=600)


def _post(url: str, body, **kw) -> httpx.Response:
    content = json.dumps(body) if isinstance(body, dict) else body  # (bytes as they are, a generator: chunked)
    return httpx.post(url + "/v1/audio/speech", content=content, headers={"Content-Type": "application/json"}, timeout=600, **kw)


def _error(r: httpx.Response, status: int, code: str | None = None) -> str:
    """Assert an OpenAI-style error answer -> its message."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "code"}, body
    msg = body["error"]["message"]
    assert msg and "\n" not in msg and "Traceback" not in msg, msg
    if code is not None:
        assert body["error"]["code"] == code, body
    return msg


def _pcm(data: bytes) -> np.ndarray:
    assert len(data) % 2 == 0
    return np.frombuffer(data, "<i2")


def test_openai_client_speaks_default_and_named_voices(client, voices):
    r = client.audio.speech.create(model="tts-1", voice="alloy", input="Hello there.")  # OpenAI's defaults: mp3
    wav, sr = sf.read(io.BytesIO(r.content), dtype="float32")
    assert r.response.headers["content-type"] == "audio/mpeg" and sr == 24000 and len(wav) > 0
    r = client.audio.speech.create(model="tiny", voice="female", input="Hello there. How are you?", response_format="flac")
    wav, sr = sf.read(io.BytesIO(r.content), dtype="float32")
    assert sr == 24000 and len(wav) > 0 and np.isfinite(wav).all()
    for fmt, head in (("wav", b"RIFF"), ("opus", b"OggS")):
        data = client.audio.speech.create(model="tiny", voice="default", input="Hi.", response_format=fmt).content
        assert data[:4] == head and len(sf.read(io.BytesIO(data))[0]) > 0
    voice_id = client.audio.speech.create(model="tiny", voice={"id": "female"}, input="Hi.", response_format="pcm").content
    assert len(_pcm(voice_id)) > 0


def test_streams_sentence_by_sentence(client, server):
    text = "One two three. Four five six. Seven eight. Nine ten. Eleven twelve. Thirteen."
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="female", input=text,
                                                             response_format="pcm") as resp:
        assert resp.headers["transfer-encoding"] == "chunked" and resp.headers["content-type"] == "audio/pcm"
        parts = [(time.monotonic(), b) for b in resp.iter_bytes() if b]
    audio = b"".join(b for _, b in parts)
    assert len(parts) >= 2 and len(parts[0][1]) < len(audio), [len(b) for _, b in parts]  # the first sentence came first
    whole = _post(server[0], {"input": text, "voice": "female", "response_format": "pcm"}).content
    assert audio == whole  # streamed or read whole, the same audio (seed 0)
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="default", input="Hello. Goodbye.",
                                                             response_format="wav") as resp:
        data = resp.read()
    assert resp.headers["transfer-encoding"] == "chunked" and data[4:8] == b"\xff\xff\xff\xff"  # a streaming header
    wav, sr = sf.read(io.BytesIO(data), dtype="int16")
    assert sr == 24000 and np.array_equal(wav, _pcm(data[44:]))


def test_sse_speed_and_listings(server):
    url, _ = server
    body = {"input": "Hello there. How are you?", "response_format": "pcm", "stream_format": "sse"}
    r = _post(url, body)
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events[-1:]] == ["speech.audio.done"] and events[-1]["usage"]["input_tokens"] == 25
    sse = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    plain = _post(url, {**body, "stream_format": "audio"}).content
    assert sse == plain
    fast = _pcm(_post(url, {**body, "stream_format": "audio", "speed": 2.0}).content)
    slow = _pcm(_post(url, {**body, "stream_format": "audio", "speed": 0.5}).content)
    n = len(_pcm(plain))
    assert abs(len(fast) / n - 0.5) < 0.02 and abs(len(slow) / n - 2.0) < 0.02, (len(fast), n, len(slow))

    models = httpx.get(url + "/v1/models", timeout=600).json()
    assert models["object"] == "list" and [m["id"] for m in models["data"]][:2] == ["tiny", "tts-1"]
    assert all(m["object"] == "model" and isinstance(m["created"], int) for m in models["data"])
    assert httpx.get(url + "/v1/models/tts-1", timeout=600).json()["id"] == "tts-1"
    _error(httpx.get(url + "/v1/models/gpt-9", timeout=600), 404, "model_not_found")
    listed = {v["id"] for v in httpx.get(url + "/v1/voices", timeout=600).json()["data"]}
    assert listed == {"default", "female", "broken"}  # not link: it leads out of the folder
    health = httpx.get(url + "/health", timeout=600).json()
    assert health["status"] == "ok" and health["queue"]["max"] == MAX_QUEUE and "pcm" in health["formats"]


def test_errors(server):
    url, _ = server
    ok = {"input": "Hello.", "response_format": "pcm"}
    for body, code, says in (
            ({**ok, "input": ""}, "invalid_input", "nothing to say"), ({**ok, "input": "   "}, "invalid_input", "nothing to say"),
            ({**ok, "input": "a" * (MAX_CHARS + 1)}, "invalid_input", f"at most {MAX_CHARS}"),
            ({"voice": "alloy"}, "invalid_value", "input"), ({**ok, "input": 12}, "invalid_value", "input"),
            ({**ok, "response_format": "ogg"}, "unsupported_response_format", "wav"),
            ({**ok, "speed": 0.1}, "invalid_value", "speed"), ({**ok, "speed": 4.5}, "invalid_value", "speed"),
            ({**ok, "speed": "fast"}, "invalid_value", "speed"), ({**ok, "stream_format": "video"}, "invalid_value", "stream_format")):
        assert says in _error(_post(url, body), 400, code), body
    assert "JSON" in _error(_post(url, b"{not json"), 400, "invalid_json")
    assert "JSON" in _error(_post(url, b"\xff\xfe"), 400, "invalid_json")
    assert "one of tiny, tts-1" in _error(_post(url, {**ok, "model": "gpt-9"}), 404, "model_not_found")
    assert "unknown voice 'nobody'" in _error(_post(url, {**ok, "voice": "nobody"}), 404, "voice_not_found")
    assert "empty file" in _error(_post(url, {**ok, "voice": "broken"}), 500, "voice_unusable")  # the server's clip
    assert "MB" in _error(_post(url, {**ok, "input": "a" * 20000}), 413, "request_too_large")
    chunks = (b'{"input": "' + b"a" * 4000 for _ in range(4))  # no Content-Length: counted as it arrives
    assert "MB" in _error(_post(url, chunks), 413, "request_too_large")
    _error(httpx.get(url + "/v1/nothing", timeout=600), 404, "not_found")
    _error(httpx.get(url + "/v1/audio/speech", timeout=600), 405)
    assert _post(url, ok).status_code == 200  # and it still speaks


def test_no_voice_name_leaves_the_folder(server, voices):
    url, _ = server
    assert (voices.parent / "secret.wav").is_file() and (voices / "link.wav").is_symlink()
    names = ["../secret", "..", "../../secret", str(voices.parent / "secret"), str(voices.parent / "secret.wav"), "/etc/passwd",
             "voices/../secret", "..\\secret", "%2e%2e%2fsecret", "secret", "link", "female.wav", "female/", ".female",
             "female\x00", "", " ", "a" * 65, {"id": "../secret"}, {"id": None}, ["female"]]
    for name in names:
        r = _post(url, {"input": "Hello.", "voice": name, "response_format": "pcm"})
        assert r.status_code in (400, 404), (name, r.status_code)
        msg = _error(r, r.status_code)
        assert "secret transcript" not in msg and str(voices.parent) not in msg
    from dualtts.serve.voices import VoiceError, VoiceLibrary

    lib = VoiceLibrary(voices)
    assert lib.resolve("female").audio == str((voices / "female.wav").resolve()) and lib.resolve("female").transcript == TEXT_B
    for name in ("link", "../secret", "secret"):
        with pytest.raises(VoiceError):
            lib.resolve(name)


def test_burst_of_20_is_answered_or_refused_then_retried(server):
    import psutil

    url, worker = server
    proc = psutil.Process()
    body = {"input": "Hello there. How are you?", "response_format": "pcm", "voice": "female"}
    expected = _post(url, body).content  # warm-up, and what every answer must be
    base_rss, peak, done = proc.memory_info().rss, [0], threading.Event()

    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.02)

    def one(i: int):
        refusals, deadline = [], time.monotonic() + 600
        with httpx.Client(timeout=600) as c:
            while time.monotonic() < deadline:
                r = c.post(url + "/v1/audio/speech", json=body)
                if r.status_code == 200:
                    return r.content, refusals
                _error(r, 429, "queue_full")
                refusals.append(int(r.headers["retry-after"]))
                time.sleep(min(refusals[-1], 0.2) * (1 + i % 5 / 10))  # honoured, but capped to keep the test short
        raise AssertionError(f"request {i}: refused {len(refusals)} times in 10 minutes")

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    served = worker.served
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    done.set()
    watcher.join()
    assert all(audio == expected for audio, _ in results)  # none lost, none mixed up
    refused = [s for _, r in results for s in r]
    assert refused and all(s >= 1 for s in refused), "20 at once with a queue of 2: some must be refused"
    assert worker.served - served == 20  # refused requests never reached the model
    growth = max(peak[0], proc.memory_info().rss) - base_rss
    assert growth < RSS_GROWTH_LIMIT, f"RSS grew by {growth / 2**20:.0f} MB"
    assert httpx.get(url + "/health", timeout=600).json()["queue"] == {"waiting": 0, "max": MAX_QUEUE, "running": False}


def test_model_that_cannot_load_is_503(speech_dir, tmp_path):
    from dualtts.serve.app import build

    app = build(str(_tiny_model(tmp_path / "bad", speech_dir, lm=False)), device="cpu")
    with running(app, want=(503,)) as url:
        health = httpx.get(url + "/health", timeout=600)
        assert health.status_code == 503 and health.json()["status"] == "error"
        assert "could not be loaded" in _error(_post(url, {"input": "Hello."}), 503, "model_unavailable")


def test_cli_serve(model, voices, tmp_path):
    """``dualtts serve`` in a subprocess: up, speaks through the openai client, stops on SIGTERM."""
    port = _free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    log = open(tmp_path / "server.log", "w")
    p = subprocess.Popen([sys.executable, "-m", "dualtts.cli", "serve", "--model", str(model), "--voices", str(voices),
                          "--port", str(port), "--steps", "2", "--queue", "1", "--device", "cpu"],
                         cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(url, p)
        c = openai.OpenAI(base_url=url + "/v1", api_key="any", max_retries=0, timeout=600)
        data = c.audio.speech.create(model="tts-1", voice="female", input="Hi.", response_format="wav").content
        assert sf.info(io.BytesIO(data)).samplerate == 24000 and len(sf.read(io.BytesIO(data))[0]) > 0
    finally:
        p.terminate()
        p.wait(30)
        log.close()
    out = (tmp_path / "server.log").read_text()
    # (uvicorn ends a SIGTERM-ed server by raising the signal again once it has shut down cleanly)
    assert p.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in out and "Traceback" not in out, out[-3000:]
    r = subprocess.run([sys.executable, "-m", "dualtts.cli", "serve", "--voices", str(tmp_path / "none")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "no such voices folder" in r.stderr, r.stderr
