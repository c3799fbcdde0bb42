"""The web demo under load: ``dualtts demo --max-queue 8`` in a subprocess on a loopback port, driven through
gradio's own client (``gradio_client``, installed with gradio).

After one warm-up request (it loads the model): the input limits answer with one-line messages through the
real server (text over 1000 characters, a voice prompt over 15 s, an upload over 20 MB), then 20 short
requests arrive at once. Each must be answered with audio or refused with "queue is full" (both must happen),
the server must still be up and answer one more request, and its resident memory must stay under 3 GB and
under 1.5x what it was after the warm-up."""
import concurrent.futures
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import demo_server

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
pytest.importorskip("gradio", reason="the demo needs gradio: pip install -r requirements-demo.txt")
gradio_client = pytest.importorskip("gradio_client", reason="gradio_client comes with gradio")

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "recipes" / "mini" / "checkpoints" / "dualtts-mini"
REQUESTS, MAX_QUEUE = 20, 8
BURST_DEADLINE_S = 180
RSS_LIMIT = 3 * 2**30
# text, prompt, prompt_text, seed, temperature, top_p, top_k, flow steps, cfg scale (the "synthesize" endpoint)
SHORT = ("Hi.", None, "", 0, 1.0, 0.85, 15, 4, 2.0)


def _rss(pid: int) -> int:
    """Resident memory of ``pid`` in bytes (psutil when there, else /proc)."""
    try:
        import psutil
    except ImportError:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {pid}")
    return psutil.Process(pid).memory_info().rss


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp("demo-load") / "server.log"
    with demo_server(log, "--max-queue", str(MAX_QUEUE), model=MODEL) as (p, url):
        yield p, url, log


def _audio_seconds(result) -> float:
    """The synthesize endpoint's answer (audio file, markdown) -> seconds of audio in the file."""
    path, info = result
    assert "real-time factor" in info, info
    wav, sr = sf.read(path, dtype="float32")
    assert sr == 24000 and wav.ndim == 1 and np.isfinite(wav).all()
    return len(wav) / sr


def _one_line_error(client, *args) -> str:
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        client.predict(*args, api_name="/synthesize")
    msg = str(e.value)
    assert "\n" not in msg.strip() and "Traceback" not in msg, msg
    return msg


def test_demo_under_load(server, tmp_path):
    import httpx
    from gradio_client import Client, handle_file
    from gradio_client.utils import QueueError

    p, url, log = server
    client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
    t0 = time.monotonic()
    assert _audio_seconds(client.predict(*SHORT, api_name="/synthesize")) > 0.1  # warm-up: loads the model
    warm_s, warm_rss = time.monotonic() - t0, _rss(p.pid)

    # the input limits, through the real server
    assert "too long: 1001 characters, at most 1000" in _one_line_error(client, "a" * 1001, *SHORT[1:])
    long_prompt = tmp_path / "long_prompt.wav"
    sf.write(str(long_prompt), np.zeros(16 * 24000, np.float32), 24000)
    assert "at most 15 s allowed" in _one_line_error(client, "Hi.", handle_file(str(long_prompt)), "hi", *SHORT[3:])
    huge = tmp_path / "huge.wav"
    sf.write(str(huge), np.zeros(6 * 24000 * 60, np.float32), 24000, subtype="FLOAT")  # 6 min, ~33 MB
    with pytest.raises(ValueError, match="exceeds the maximum file size of 20971520 bytes"):  # the client checks
        client.predict("Hi.", handle_file(str(huge)), "hi", *SHORT[3:], api_name="/synthesize")
    with open(huge, "rb") as f:  # and so does the server, for a client that does not
        r = httpx.post(f"{url}gradio_api/upload", files={"files": ("huge.wav", f, "audio/wav")}, timeout=60)
    assert r.status_code == 413 and "maximum allowed size" in r.text, (r.status_code, r.text[:300])

    # the burst: REQUESTS at once; memory sampled all along
    peak, stop = [warm_rss], threading.Event()

    def sample():
        while not stop.wait(0.2):
            peak.append(_rss(p.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    t1 = time.monotonic()
    jobs = [client.submit(*SHORT[:3], i, *SHORT[4:], api_name="/synthesize") for i in range(REQUESTS)]
    answered, refused, other = [], [], []
    try:
        for job in jobs:
            left = BURST_DEADLINE_S - (time.monotonic() - t1)
            try:
                answered.append(_audio_seconds(job.result(timeout=max(left, 1))))
            except QueueError as err:
                refused.append(str(err))
            except concurrent.futures.TimeoutError:
                pytest.fail(f"{REQUESTS} requests not all answered within {BURST_DEADLINE_S} s "
                            f"({len(answered)} answered, {len(refused)} refused so far)")
            except Exception as err:  # noqa: BLE001  (reported below, all together)
                other.append(f"{type(err).__name__}: {err}")
    finally:
        stop.set()
        sampler.join()
    burst_s = time.monotonic() - t1
    print(f"warm-up {warm_s:.1f} s; {REQUESTS} requests in {burst_s:.1f} s: {len(answered)} answered, {len(refused)} "
          f"refused; RSS {warm_rss / 2**20:.0f} MB after warm-up, peak {max(peak) / 2**20:.0f} MB")
    assert not other, f"neither audio nor 'queue is full': {other}\n{log.read_text()[-3000:]}"
    assert len(answered) + len(refused) == REQUESTS
    assert answered and refused, f"{len(answered)} answered, {len(refused)} refused: both should happen with --max-queue {MAX_QUEUE}"
    assert len(answered) <= REQUESTS - 1 and all("queue is full" in r.lower() for r in refused), refused
    assert all(s > 0.1 for s in answered)

    assert p.poll() is None, f"the server died:\n{log.read_text()[-3000:]}"
    assert _audio_seconds(client.predict(*SHORT, api_name="/synthesize")) > 0.1  # and still answers
    peak.append(_rss(p.pid))
    assert max(peak) < RSS_LIMIT, f"RSS peaked at {max(peak) / 2**30:.2f} GB"
    assert max(peak) < 1.5 * warm_rss, f"RSS grew from {warm_rss / 2**20:.0f} MB to {max(peak) / 2**20:.0f} MB"
