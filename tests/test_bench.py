"""``dualtts bench --quick``: every part in one run into a folder -> ``bench.json`` (its keys and shapes),
``e2e_speed.json``, ``flow_speed.json`` (``rtf_16_steps`` updated, its other fields kept), ``RESULTS.md`` and
PNG plots. No timing assertions: speed is measured by the benchmark, never by tests."""
import json

import pytest

from dualtts.cli import main


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and x > 0


def test_bench_quick(tmp_path, capsys):
    (tmp_path / "flow_speed.json").write_text(json.dumps({"rtf_16_steps": -1.0, "runs": ["kept"]}))
    assert main(["bench", "--quick", "--out-dir", str(tmp_path), "--device", "cpu"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["out_dir"] == str(tmp_path) and _positive(summary["e2e"]["rtf"])

    res = json.loads((tmp_path / "bench.json").read_text())
    s = res["setup"]
    for k in ("cpu", "cores", "torch", "transformers", "python", "date", "commit", "model", "anchors"):
        assert s[k], k
    assert (s["threads"], s["device"], s["quick"]) == (2, "cpu", True)

    ours = ("dualcodec_12.5hz", "dualcodec_25hz")  # the model's codec takes its frame rate's place
    assert set(res["codec"]) == {*ours, "mimi", "encodec"} and s["model_codec"] in ours
    for name, r in res["codec"].items():
        assert "error" not in r, r
        assert all(_positive(r[k]) for k in ("encode_rtf", "decode_rtf", "params_M", "peak_rss_MB", "layers")), name
    assert [res["codec"][n]["frame_rate"] for n in ours] == [12.5, 25.0]
    assert (res["codec"]["mimi"]["layers"], res["codec"]["encodec"]["layers"]) == (8, 8)  # Mimi 8 layers; EnCodec 6 kbps
    for name in ours:
        for op in ("encode", "decode"):
            assert _positive(res["ratios"][f"{name}_{op}_vs_mimi"]) and _positive(res["ratios"][f"{name}_{op}_vs_encodec"])

    assert set(res["lm"]) == {"model_lm_fp32", "model_lm_int8"}
    for r in res["lm"].values():
        assert all(_positive(r[k]) for k in ("tokens_per_s", "prefill_tokens_per_s", "rtf", "peak_rss_MB")), r
    assert set(res["flow"]) == {"model_acoustic", "flow_tiny_16_steps", "flow_tiny_16_steps_bf16"}
    assert res["flow"]["model_acoustic"]["stage"] == "nar" and _positive(res["flow"]["flow_tiny_16_steps"]["rtf"])
    assert _positive(res["ratios"]["model_acoustic_vs_flow_16_steps"]) and _positive(res["ratios"]["flow_16_steps_bf16_vs_fp32"])
    bf16 = res["flow"]["flow_tiny_16_steps_bf16"]
    assert bf16["weights"] == "bf16" and _positive(bf16["rtf"]) and bf16["snr_db"] > 10  # close to the fp32 weights' output

    rows = list(res["e2e"].values())
    assert [r["sentences"] for r in rows] == [1, 2] and rows[0]["chars"] < rows[1]["chars"]
    assert all(_positive(r[k]) for r in rows for k in ("rtf", "ttfa_s", "audio_s", "wall_s", "peak_rss_MB"))
    for k in ("e2e", "lm_model_lm_fp32", "acoustic_model_acoustic"):
        assert _positive(res["ratios"][f"{k}_rtf_vs_mimi_decode"]), k

    e2e = json.loads((tmp_path / "e2e_speed.json").read_text())
    assert _positive(e2e["rtf"]) and _positive(e2e["ttfa_s"]) and e2e["threads"] == 2
    assert e2e["machine"]["cpu"] and len(e2e["by_length"]) == 2
    flow = json.loads((tmp_path / "flow_speed.json").read_text())
    assert _positive(flow["rtf_16_steps"]) and flow["runs"] == ["kept"] and flow["rtf_16_steps_by"]["preset"] == "tiny"
    assert _positive(flow["rtf_16_steps_bf16"]) and flow["snr_db_bf16"] == bf16["snr_db"]

    md = (tmp_path / "RESULTS.md").read_text()
    for head in ("## Machine", "## Codec", "## Semantic LM", "## Acoustic stage", "## End to end", "random weights"):
        assert head in md, head
    for png in ("bench_rtf.png", "bench_memory.png"):
        assert f"]({png})" in md
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_unknown_part(tmp_path):
    with pytest.raises(SystemExit, match="unknown part"):
        main(["bench", "--parts", "codec,speed", "--out-dir", str(tmp_path)])
    assert not any(tmp_path.iterdir())
