"""The report of ``dualtts bench`` (:func:`dualtts.bench.run`): ``RESULTS.md`` with machine, versions, date,
commit and one table per part, and PNG plots (end-to-end RTF and time to first audio against text length,
peak memory of every measurement)."""
from __future__ import annotations

from pathlib import Path


def _table(head: list[str], rows: list[list]) -> str:
    f = lambda v: "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))
    return "\n".join(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(f(v) for v in r) + " |" for r in rows])


def _plots(res: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = []
    e2e = [r for r in res.get("e2e", {}).values() if "rtf" in r]
    if e2e:
        fig, ax = plt.subplots(1, 2, figsize=(9, 3.5))
        x = [r["chars"] for r in e2e]
        cpu = res["setup"]["device"] == "cpu"
        for a, key, target, label in ((ax[0], "rtf", 1.0 if cpu else 0.05, "real-time factor"),
                                      (ax[1], "ttfa_s", 1.5, "time to first audio (s)")):
            a.plot(x, [r[key] for r in e2e], "o-")
            a.axhline(target, ls="--", c="gray", lw=1, label=f"target {target:g}")
            a.legend()
            a.set(xlabel="text length (characters)", ylabel=label, ylim=(0, None))
        fig.suptitle(f"end to end, streaming ({res['setup']['device']}, {res['setup']['threads']} threads)")
        fig.tight_layout()
        fig.savefig(out / "bench_rtf.png", dpi=100)
        plt.close(fig)
        names.append("bench_rtf.png")
    mem = [(f"{part}: {name}", r[k], k) for part in ("codec", "lm", "flow", "e2e") for name, r in res.get(part, {}).items()
           for k in ("peak_rss_MB", "peak_cuda_MB") if k in r]
    if mem:
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(mem) + 1))
        ax.barh([f"{n} ({'CUDA' if k == 'peak_cuda_MB' else 'RSS'})" for n, _, k in mem], [v for _, v, _ in mem])
        ax.invert_yaxis()
        ax.set(xlabel="peak memory (MB)")
        fig.tight_layout()
        fig.savefig(out / "bench_memory.png", dpi=100)
        plt.close(fig)
        names.append("bench_memory.png")
    return names


def write_report(res: dict, out: Path) -> None:
    """``RESULTS.md`` (machine, versions, date, one table per part, the ratios) and the PNG plots."""
    from dualtts.data.atomic import write_text_atomic

    s, r = res["setup"], res["ratios"]
    fork = f" (a fork: peak RSS its own plus the {s['parent_rss_MB']:g} MB the parent held)" if s["process"] == "fork" else ""
    md = ["# DualTTS inference benchmark", "",
          f"`dualtts bench --threads {s['threads']} --device {s['device']}{' --quick' if s['quick'] else ''}` on {s['date']}, "
          f"commit `{s['commit']}`, model `{Path(s['model']).name}`. RTF = seconds of compute per second of audio (lower is "
          f"faster); the medians of {s['sizes']['repeats']} after {s['sizes']['warmup']} warm-up call(s); each model in its own "
          f"process{fork}. "
          f"Ratios are to anchors measured in the same run: {s['anchors']}. Raw numbers: `bench.json`.", ""]
    if s["quick"]:
        md += ["**Smoke run (`--quick`): tiny sizes, the numbers mean nothing.**", ""]
    md += ["## Machine", "", _table(["CPU", "cores", "threads", "device", "GPU", "torch", "transformers", "python"],
                                    [[s["cpu"], s["cores"], s["threads"], s["device"], s.get("gpu"), s["torch"], s["transformers"],
                                      s["python"]]]), ""]
    if "codec" in res:
        md += ["## Codec", "", f"{s['sizes']['seconds']:g} s of audio, batch 1. DualCodec's encode (and params) include its SSL "
               f"front end (Whisper base for the tiny codecs); `{s['model_codec']}` is the model's own codec, the other DualCodec "
               "the tiny one at the other frame rate. Mimi and EnCodec have random weights: their speed, not their quality.", "",
               _table(["codec", "frame rate (Hz)", "layers", "params (M)", "encode RTF", "decode RTF", "encode / Mimi",
                       "decode / Mimi", "encode / EnCodec", "decode / EnCodec", "peak RSS (MB)"],
                      [[n, c.get("frame_rate"), c.get("layers"), c.get("params_M"), c.get("encode_rtf"), c.get("decode_rtf")]
                       + [r.get(f"{n}_{op}_vs_{a}") for a in ("mimi", "encodec") for op in ("encode", "decode")]
                       + [c.get("peak_rss_MB", c.get("error"))] for n, c in res["codec"].items()]), ""]
    if "lm" in res:
        md += ["## Semantic LM", "", f"The model's LM generating exactly {s['sizes']['lm_new']} tokens after "
               f"{s['sizes']['lm_phonemes']} phonemes + {s['sizes']['lm_prompt']} prompt tokens, batch 1 (int8: dynamic int8 Linear "
               "layers).", "", _table(["LM", "params (M)", "tokens/s", "prefill tokens/s", "RTF", "RTF / Mimi decode", "peak RSS (MB)"],
                                      [[n, c.get("params_M"), c.get("tokens_per_s"), c.get("prefill_tokens_per_s"), c.get("rtf"),
                                        r.get(f"lm_{n}_rtf_vs_mimi_decode"), c.get("peak_rss_MB", c.get("error"))]
                                       for n, c in res["lm"].items()]), ""]
    if "flow" in res:
        md += ["## Acoustic stage", "", f"{s['sizes']['seconds']:g} s of speech after a prompt, codec decode not included: the "
               f"model's own stage, and the flow `{s['sizes']['flow_preset']}` preset (random weights, Euler, CFG on) at 16 steps, "
               "whose RTF goes into `flow_speed.json` (`rtf_16_steps`).", "",
               _table(["stage", "kind", "params (M)", "RTF", "RTF / Mimi decode", "peak RSS (MB)"],
                      [[n, c.get("stage", f"flow {c.get('preset')}, {c.get('steps')} steps"), c.get("params_M"), c.get("rtf"), r.get(f"acoustic_{n}_rtf_vs_mimi_decode"),
                        c.get("peak_rss_MB", c.get("error"))] for n, c in res["flow"].items()]), ""]
    if "e2e" in res:
        e = res.get("e2e_summary", {})
        md += ["## End to end", "", "Text in, audio out in streaming mode (sentence by sentence), the model's default voice, "
               f"16 steps; time to first audio includes reading the prompt. Over all lengths: **RTF {e.get('rtf')}**, **TTFA "
               f"{e.get('ttfa_s')} s** (median)" + (f", {r['e2e_rtf_vs_mimi_decode']}× Mimi's decode time" if r.get('e2e_rtf_vs_mimi_decode')
                                                     else "") + " (`e2e_speed.json`).", "",
               _table(["sentences", "characters", "audio (s)", "RTF", "TTFA (s)", "peak RSS (MB)"],
                      [[c.get("sentences"), c.get("chars"), c.get("audio_s"), c.get("rtf"), c.get("ttfa_s"),
                        c.get("peak_rss_MB", c.get("error"))] for c in res["e2e"].values()]), ""]
    if "published" in res:
        md += ["## The published DualCodec TTS", "", "`amphion/dualcodec-tts` on our stack (AR + NAR + the 12.5 Hz codec with "
               "w2v-BERT 2.0), random weights of the published sizes (`--quick`: tiny ones), streaming with the shipped voice "
               "prompt; each sentence held to a fixed token count (random weights rarely stop).", "",
               _table(["sentences", "characters", "tokens / sentence", "audio (s)", "RTF", "TTFA (s)", "peak RSS (MB)"],
                      [[c.get("sentences"), c.get("chars"), c.get("tokens_per_sentence"), c.get("audio_s"), c.get("rtf"),
                        c.get("ttfa_s"), c.get("peak_rss_MB", c.get("error"))] for c in res["published"].values()]), ""]
    md += [f"![{n}]({n})" for n in _plots(res, out)]
    write_text_atomic(out / "RESULTS.md", "\n".join(md) + "\n")
