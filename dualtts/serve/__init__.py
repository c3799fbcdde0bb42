"""``dualtts serve``: an OpenAI-compatible speech server, so that code written for OpenAI's text to speech
(``client.audio.speech.create(...)``, ``with_streaming_response``) speaks with a DualTTS model by changing its
``base_url``.

    dualtts serve [--model DIR] [--voices DIR] [--port 8000] [--queue 8]
    from dualtts.serve.app import build, serve     # build(...) -> the FastAPI app; serve(...) runs it (blocks)

- ``serve.app``: the HTTP endpoints (``POST /v1/audio/speech``, ``GET /v1/models``, ``/v1/voices``, ``/health``),
  OpenAI-style errors, the request body limit;
- ``serve.engine``: the model (:class:`SpeechEngine`, shared with the web demo) and the one worker thread with its
  bounded queue (:class:`SpeechWorker`);
- ``serve.voices``: the voices (the model's own, and named clips of a folder; no path leaves the folder);
- ``serve.audio``: the response formats and ``speed`` (a pitch-keeping time stretch).

Why FastAPI + uvicorn: the web demo's gradio is built on both, so they are usually installed already and cost
the ``serve`` extra nothing new; uvicorn sends a response without a length as HTTP/1.1 chunked transfer, which is
how the audio streams sentence by sentence (a FastAPI ``StreamingResponse`` fed by the worker thread through the
event loop), and FastAPI notices a client that went away, so its request stops at the next sentence instead of
occupying the model. A bare ``http.server`` would need all of this written by hand; heavier stacks (a separate
inference server) would bring nothing a one-model CPU server needs.

Why one worker and no batching across requests: one synthesis already keeps the CPU busy (torch uses every core
for each matrix product), and the LM already runs batched within a request (best-of-N sampling samples its N
candidates as one batch). Measured on the shipped model (CPU time, one thread, "The weather today is cold and
windy.", 2 s of audio): with its default best of 16 samples the LM costs 3.91 s for one request and 7.66 s for two
batched together (3.83 s each: 2 % saved), the whole request 4.56 s. Only with ``--candidates 1`` would batching
pay (LM 0.65 s alone, 0.41 s each batched by two, 0.30 s by four; about a quarter of a 0.93 s request), at the
price of the first request waiting for the others, so requests are spoken one at a time, each streamed as soon as
its first sentence is ready.
"""
