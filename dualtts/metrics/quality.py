"""DNSMOS (P.835 SIG/BAK/OVRL and P.808 MOS) with the ONNX models shipped in ``speechmos``.

The sessions are built here with explicit thread settings: with onnxruntime's defaults the
models spun for 15+ minutes on a busy 2-core machine.
"""
from __future__ import annotations

import functools
import os
import threading
from typing import Sequence

from dualtts.metrics.common import DEFAULT_SR, AudioLike, Score, to_16k

_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _dnsmos_model():
    try:
        import onnxruntime as ort
        from speechmos import dnsmos as sm
    except ImportError:
        raise RuntimeError("DNSMOS needs: pip install speechmos librosa onnxruntime requests") from None

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = min(2, os.cpu_count() or 1)
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    here = os.path.dirname(os.path.abspath(sm.__file__))
    model = sm.DNSMOS.__new__(sm.DNSMOS)
    model.primary_model_path = os.path.join(here, "dnsmos_models", "sig_bak_ovr.onnx")
    model.onnx_sess = ort.InferenceSession(model.primary_model_path, opts, providers=["CPUExecutionProvider"])
    model.p808_onnx_sess = ort.InferenceSession(os.path.join(here, "dnsmos_models", "model_v8.onnx"), opts,
                                                providers=["CPUExecutionProvider"])
    return model


def dnsmos(wavs: Sequence[AudioLike], sample_rate: int = DEFAULT_SR) -> Score:
    """DNSMOS overall quality per clip (``mean``/``items``); ``extra`` holds sig/bak/p808 lists."""
    import numpy as np

    model = _dnsmos_model()
    rows = []
    for w in wavs:
        x = np.clip(to_16k(w, sample_rate), -1.0, 1.0)
        with _lock:
            rows.append(model(x, 16000, False))
    s = Score.of([r["ovrl_mos"] for r in rows])
    s.extra = {k: [float(r[f"{k}_mos"]) for r in rows] for k in ("sig", "bak", "p808")}
    return s
