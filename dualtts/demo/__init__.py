"""A web demo of DualTTS (gradio; ``pip install -r requirements-demo.txt``): ``dualtts demo`` serves it.

- ``demo.engine``: the model, loaded on first use, and the jobs the pages run on it (no gradio);
- ``demo.app``: the pages, "Text to speech" and "Codec", and ``launch``.
"""
