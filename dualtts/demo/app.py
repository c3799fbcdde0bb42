"""The demo's web pages (gradio): "Text to speech" and "Codec", on one :class:`demo.engine.DemoEngine`.

    from dualtts.demo.app import build_app, launch
    launch(model=None, host="127.0.0.1", port=7860)          # what `dualtts demo` runs; blocks until Ctrl-C

``tts_handler`` and ``codec_handler`` are what the buttons call (plain functions, testable without a
browser); input problems come back as one-line :class:`gradio.Error` messages, not tracebacks.
"""
from __future__ import annotations

import functools
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home (before gradio is imported)

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402

from dualtts.demo.engine import CODEC_MAX_SECONDS, MAX_TEXT_CHARS, MAX_UPLOAD_MB, PROMPT_MAX_SECONDS, DemoEngine  # noqa: E402

MAX_QUEUE = 16  # requests waiting for the model beyond the one running; more are refused ("queue is full")

TITLE = "DualTTS demo"
EXAMPLES = (  # clickable sentences of the text to speech page
    "The weather today is cold and windy, with some rain in the afternoon.",
    "Please call me back tomorrow morning after nine.",
    "A quiet river ran past the old mill, and the children watched the boats go by.",
    "Could you tell me the way to the station? I think I am lost.",
    "Thank you for waiting. Your order will be ready in ten minutes.",
)


def _user_errors(fn):
    """Bad input (AudioError, TextError, ValueError, a missing file) -> a one-line gr.Error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError) as e:
            raise gr.Error(" ".join(str(e).split()) or type(e).__name__, print_exception=False) from None

    return wrapper


def _pcm16(wav: np.ndarray) -> np.ndarray:
    return (np.clip(wav, -1.0, 1.0) * 32767).astype(np.int16)


def spectrogram_figure(sample_rate: int, panels: list[tuple[str, np.ndarray]]):
    """Stacked log-magnitude spectrograms (one panel per (title, wav)) as a matplotlib Figure (no pyplot)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 2.4 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (title, wav) in zip(axes, panels):
        ax.specgram(wav.astype(np.float64) + 1e-9, NFFT=1024, Fs=sample_rate, noverlap=768, cmap="magma", scale="dB")
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("Hz")
    axes[-1].set_xlabel("seconds")
    return fig


@_user_errors
def tts_handler(engine: DemoEngine, text: str, prompt: str | None, prompt_text: str | None, seed: float = 0,
                temperature: float = 1.0, top_p: float = 0.85, top_k: float = 15, steps: float = 16, cfg_scale: float = 2.0):
    """-> ((sample_rate, int16 audio), markdown with the time taken and real-time factor)."""
    out = engine.synthesize(text, prompt or None, prompt_text, seed=int(seed or 0), steps=int(steps), cfg_scale=float(cfg_scale),
                            temperature=float(temperature), top_p=float(top_p), top_k=int(top_k))
    voice = "the uploaded prompt" if prompt else "the model's default voice"
    info = (f"**{out.seconds:.2f} s** of audio in **{out.wall_s:.2f} s**: real-time factor **{out.rtf:.2f}** "
            f"(below 1 is faster than real time), voice: {voice}.")
    if out.load_s is not None:
        info += f" The model was loaded first ({out.load_s:.1f} s, once)."
    return (out.sample_rate, _pcm16(out.wav)), info


@_user_errors
def codec_handler(engine: DemoEngine, audio: str | None, layers: float):
    """-> ((sample_rate, int16 audio), markdown with the bitrate, spectrogram figure before/after)."""
    r = engine.reconstruct(audio, int(layers))
    info = (f"**{r.layers} layer{'s' if r.layers > 1 else ''}: {r.kbps:.3f} kbit/s** "
            f"(frame rate x layers x log2(codebook size)); {len(r.original) / r.sample_rate:.2f} s of audio "
            f"encoded and decoded in {r.wall_s:.2f} s.")
    fig = spectrogram_figure(r.sample_rate, [("original", r.original), (f"decoded from {r.layers} layer(s)", r.decoded)])
    return (r.sample_rate, _pcm16(r.decoded)), info, fig


def _sampling_defaults():
    from dualtts.lm.sampler import SamplingConfig

    return SamplingConfig()


def build_app(engine: DemoEngine | None = None) -> gr.Blocks:
    """The two pages on ``engine`` (default: the shipped model on the default device, loaded on first use)."""
    engine = engine or DemoEngine()
    d = _sampling_defaults()
    n_q = engine.codec_layers()
    default_voice = engine.has_default_voice()
    with gr.Blocks(title=TITLE) as app:
        gr.Markdown(f"# {TITLE}\nZero-shot text to speech on DualCodec tokens: {engine.describe()}")
        with gr.Tab("Text to speech"):
            with gr.Row():
                with gr.Column():
                    text = gr.Textbox(label=f"Text (up to {MAX_TEXT_CHARS} characters)", lines=4, max_length=MAX_TEXT_CHARS,
                                      placeholder="What to say (English).", elem_id="tts-text")
                    prompt = gr.Audio(sources=["upload", "microphone"], type="filepath", elem_id="tts-prompt",
                                      label=f"Voice prompt, 0.5 to {PROMPT_MAX_SECONDS:g} s, up to {MAX_UPLOAD_MB} MB"
                                      + (" (empty: the model's default voice)" if default_voice else ""))
                    prompt_text = gr.Textbox(label="Prompt transcript (optional: empty = transcribed by the offline ASR)",
                                             lines=2, elem_id="tts-prompt-text")
                    with gr.Accordion("Sampling", open=False):
                        seed = gr.Number(value=0, precision=0, label="Seed", elem_id="tts-seed")
                        temperature = gr.Slider(0.1, 1.5, value=d.temperature, step=0.05, label="Temperature")
                        top_p = gr.Slider(0.05, 1.0, value=d.top_p, step=0.01, label="Top-p")
                        top_k = gr.Slider(1, 200, value=d.top_k, step=1, label="Top-k")
                        steps = gr.Slider(2, 64, value=16, step=1, label="Flow steps")
                        cfg_scale = gr.Slider(0.0, 5.0, value=2.0, step=0.1, label="Flow guidance (cfg scale)")
                    run = gr.Button("Synthesize", variant="primary", elem_id="tts-run")
                    gr.Examples([[x] for x in EXAMPLES], inputs=[text], label="Example sentences (click one)",
                                elem_id="tts-examples")
                with gr.Column():
                    out = gr.Audio(label="Speech", type="numpy", format="wav", interactive=False, elem_id="tts-out")
                    stats = gr.Markdown(elem_id="tts-stats")
            run.click(functools.partial(tts_handler, engine), [text, prompt, prompt_text, seed, temperature, top_p, top_k, steps,
                                                               cfg_scale], [out, stats], api_name="synthesize")
        with gr.Tab("Codec"):
            gr.Markdown(f"Encode audio (up to {CODEC_MAX_SECONDS:g} s, {MAX_UPLOAD_MB} MB) with the model's codec and decode "
                        "only its first layers: layer 1 is the semantic layer the LM writes; the rest add acoustic detail.")
            with gr.Row():
                with gr.Column():
                    audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Audio", elem_id="codec-in")
                    layers = gr.Slider(1, n_q, value=n_q, step=1, label=f"RVQ layers (1 to {n_q})", elem_id="codec-layers")
                    go = gr.Button("Reconstruct", variant="primary", elem_id="codec-run")
                with gr.Column():
                    decoded = gr.Audio(label="Decoded", type="numpy", format="wav", interactive=False, elem_id="codec-out")
                    bitrate = gr.Markdown(elem_id="codec-info")
            spec = gr.Plot(label="Spectrograms: before / after", elem_id="codec-spec")
            go.click(functools.partial(codec_handler, engine), [audio, layers], [decoded, bitrate, spec], api_name="reconstruct")
    app.engine = engine
    return app


def launch(model: str | None = None, device: str = "auto", host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           block: bool = True, max_queue: int = MAX_QUEUE) -> gr.Blocks:
    """Serve the demo; one request runs at a time (the engine's lock guards the model across the two pages), at
    most ``max_queue`` more wait, later ones are refused at once ("queue is full"); uploads over
    :data:`~demo.engine.MAX_UPLOAD_MB` are refused by gradio. ``block=False`` returns once the server is up
    (tests); ``app.close()`` stops it."""
    if max_queue < 1:
        raise ValueError(f"max_queue: {max_queue}, at least 1")
    app = build_app(DemoEngine(model, device))
    app.queue(default_concurrency_limit=1, max_size=max_queue)
    app.launch(server_name=host, server_port=port, share=share, ssr_mode=False, prevent_thread_lock=not block,
               show_error=True, quiet=not block, max_file_size=f"{MAX_UPLOAD_MB}mb")
    return app
