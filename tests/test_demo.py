"""The web demo (``dualtts demo``): its handlers called directly, and one real session in headless Chromium
(text to speech with an uploaded prompt, a codec round trip at 2 layers, a bad input shown as a message).

Skipped only where gradio or the system browser (/usr/bin/chromium, /usr/bin/chromedriver) is missing;
``bash scripts/install.sh --dev`` installs both."""
import io
import json
import math
import os
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import demo_server

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
gr = pytest.importorskip("gradio", reason="the demo needs gradio: pip install -r requirements-demo.txt")

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "recipes" / "mini" / "checkpoints" / "dualtts-mini"
PROMPT = MODEL / "prompt.wav"
PROMPT_TEXT = (MODEL / "prompt.txt").read_text(encoding="utf-8").strip()
TEXT = "The weather today is cold and windy."
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")


def _kbps(layers: int) -> str:
    """The bitrate the codec page should show for the shipped codec at ``layers`` layers."""
    from dualtts.codec.config import get_config

    cfg = get_config(str(MODEL / "codec"))
    return f"{cfg.frame_rate * sum(math.log2(s) for s in cfg.codebook_sizes[:layers]) / 1000:.3f} kbit/s"


def _user_error(fn, *args) -> str:
    with pytest.raises(gr.Error) as e:
        fn(*args)
    msg = e.value.message
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


@pytest.fixture(scope="module")
def engine():
    from dualtts.demo.engine import DemoEngine

    return DemoEngine(str(MODEL), device="cpu")


def test_handlers_speak_reconstruct_and_refuse_bad_input(engine, tmp_path):
    from dualtts.data.audio import load_audio
    from dualtts.demo.app import EXAMPLES, build_app, codec_handler, tts_handler

    app = build_app(engine)
    assert isinstance(app, gr.Blocks) and not engine.loaded, "the model loads on the first request, not before"
    page = json.dumps(app.config)  # the subtitle says what the shipped model uses; clickable example sentences
    assert "non-autoregressive model (NAR)" in page and "a flow fills" not in page and "best of 4 samples" in page
    assert all(x in page for x in EXAMPLES) and "tts-examples" in page
    for bad, says in (("", "nothing to say"), ("   ", "nothing to say")):
        assert says in _user_error(tts_handler, engine, bad, None, None)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(24000, np.float32), 24000)
    assert "empty file" in _user_error(tts_handler, engine, TEXT, str(empty), "hello")
    assert "no speech" in _user_error(tts_handler, engine, TEXT, str(silent), "hello")
    assert "without prompt audio" in _user_error(tts_handler, engine, TEXT, None, "a transcript")

    (sr, wav), info = tts_handler(engine, TEXT, str(PROMPT), PROMPT_TEXT, 0)
    assert sr == 24000 and wav.dtype == np.int16 and wav.ndim == 1 and len(wav) > 0.5 * sr
    assert "real-time factor" in info and "uploaded prompt" in info

    (sr, rec), info, fig = codec_handler(engine, str(PROMPT), 2)
    assert sr == 24000 and rec.dtype == np.int16 and len(rec) == len(load_audio(PROMPT, 24000)[0])
    assert f"2 layers: {_kbps(2)}" in info
    assert len(fig.axes) == 2  # original / decoded spectrograms

    stereo = tmp_path / "stereo.wav"  # odd but usable: mixed down to mono
    sf.write(str(stereo), np.stack([load_audio(PROMPT, 24000)[0][:12000]] * 2, axis=1), 24000)
    assert len(codec_handler(engine, str(stereo), 1)[0][1]) == 12000
    assert "no audio given" in _user_error(codec_handler, engine, None, 1)
    assert "not between 1 and 8" in _user_error(codec_handler, engine, str(PROMPT), 9)
    assert "empty file" in _user_error(codec_handler, engine, str(empty), 1)


# --- the real thing: `dualtts demo` in a subprocess, driven by headless Chromium ------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
        pytest.skip(f"no system browser ({CHROMIUM}, {CHROMEDRIVER}): apt-get install chromium chromium-driver")
    with demo_server(tmp_path_factory.mktemp("demo") / "server.log", model=MODEL) as (_, url):
        yield url


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the browser test needs selenium: pip install -r requirements-dev.txt")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + (f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",):
        opts.add_argument(flag)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_window_size(1400, 1800)
    yield d
    d.quit()


def _fetch_audio(href: str) -> tuple[np.ndarray, int]:
    with urllib.request.urlopen(href, timeout=30) as r:
        return sf.read(io.BytesIO(r.read()), dtype="float32")


def test_browser_session(server, browser):
    from selenium.webdriver.common.by import By

    from dualtts.data.audio import load_audio
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    d, wait = browser, WebDriverWait(browser, 120, poll_frequency=0.25)
    css = lambda sel: d.find_elements(By.CSS_SELECTOR, sel)  # noqa: E731

    def page_error() -> str | None:  # a gr.Error shows as a toast with the message
        toasts = [t.text for t in css("[data-testid='toast-body']") + css(".toast-body")]
        return next((t for t in toasts if t.strip()), None)

    def output_link(component: str) -> str:
        """Wait for the output audio of ``component`` (its download link to the served file) -> the URL."""
        wait.until(lambda _: css(f"#{component} a[href*='/file=']") or page_error())
        assert not page_error(), page_error()
        return css(f"#{component} a[href*='/file=']")[0].get_attribute("href")

    d.get(server)
    wait.until(lambda _: css("#tts-text textarea") and css("#tts-prompt input[type=file]"))
    css("#tts-text textarea")[0].send_keys(TEXT)
    css("#tts-prompt input[type=file]")[0].send_keys(str(PROMPT))
    css("#tts-prompt-text textarea")[0].send_keys(PROMPT_TEXT)
    wait.until(lambda _: css("#tts-prompt [data-testid='waveform-controls']"))  # the upload is in
    css("#tts-run")[0].click()
    wav, sr = _fetch_audio(output_link("tts-out"))
    assert sr == 24000 and wav.ndim == 1 and len(wav) / sr > 0.5 and np.abs(wav).max() > 0.01
    stats = css("#tts-stats")[0].text
    assert "real-time factor" in stats and "uploaded prompt" in stats, stats

    next(t for t in css("button[role='tab']") if t.text.strip() == "Codec").click()
    wait.until(lambda _: css("#codec-in input[type=file]") and css("#codec-layers input[type='number']"))
    css("#codec-in input[type=file]")[0].send_keys(str(PROMPT))
    layers = css("#codec-layers input[type='number']")[0]
    layers.send_keys(Keys.CONTROL, "a")
    layers.send_keys("2", Keys.TAB)
    wait.until(lambda _: css("#codec-in [data-testid='waveform-controls']"))
    css("#codec-run")[0].click()
    rec, sr = _fetch_audio(output_link("codec-out"))
    assert sr == 24000 and abs(len(rec) - len(load_audio(PROMPT, 24000)[0])) < 0.01 * sr
    wait.until(lambda _: "kbit/s" in css("#codec-info")[0].text)
    assert f"2 layers: {_kbps(2)}" in css("#codec-info")[0].text
    assert css("#codec-spec img"), "no spectrogram plot"

    next(t for t in css("button[role='tab']") if t.text.strip() == "Text to speech").click()
    wait.until(lambda _: css("#tts-text textarea"))
    css("#tts-text textarea")[0].send_keys(Keys.CONTROL, "a")
    css("#tts-text textarea")[0].send_keys(Keys.DELETE)  # (clear() fires no input event: the app would not see it)
    css("#tts-run")[0].click()
    msg = wait.until(lambda _: page_error())  # read once: the toast may close before a second look
    assert "nothing to say" in msg and "Traceback" not in msg, msg
