"""The GPU check (recipes/bench/gpu_check.py, dualtts.bench_gpu) at the dry run's sizes on a CPU: every stage runs
and reports, the JSON and the README section are written from it; under a minute on an idle 2-core machine."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dualtts.bench_gpu import BEGIN, END, main, render_section, write_readme_section

ROOT = Path(__file__).resolve().parents[1]


def test_tiny_check_runs_every_stage_on_a_cpu(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Recipe\n\ntext before\n\n<!-- gpu-check:begin -->\nold\n<!-- gpu-check:end -->\n\ntext after\n")
    out = tmp_path / "gpu_check.json"
    rc = main(["--size", "tiny", "--device", "cpu", "--seconds", "1", "--out", str(out), "--readme", str(readme)])
    rep = json.loads(out.read_text())
    st = rep["stages"]
    assert rc == 0 and set(st) == {"codec_fp32", "lm_fp32", "nar_fp32", "infer_fp32"}, {k: v.get("error") for k, v in st.items()}
    for key in ("codec_fp32", "lm_fp32", "nar_fp32"):
        r = st[key]
        assert r["status"] == "ok" and r["steps"] >= 1 and r["steps_per_s"] > 0 and r["losses_finite"], r
        assert r["flop_per_step"] > 0 and r["achieved_tflops"] >= 0 and r["mfu"] is None  # no peak known for a CPU
        assert r["hours_for_recipe"] > 0 and r["recipe_max_steps"] in (100000, 200000) and r["peak_mem_gb"] > 0
    assert st["codec_fp32"]["encode"]["audio_s_per_s"] > 0 and st["lm_fp32"]["positions_per_s"] > 0
    inf = st["infer_fp32"]
    assert inf["status"] == "ok" and inf["lm_1_rows"]["tokens_per_s"] > 0 and inf["lm_4_rows"]["tokens_per_s"] > 0
    assert inf["nar_and_decoder"]["finite"] and inf["decoder"]["rtf"] > 0 and inf["lm_states"]["utt_per_s"] > 0
    for k in ("e2e_1_candidates", "e2e_4_candidates"):
        assert inf[k]["rtf"] > 0 and 0 < inf[k]["time_to_first_audio_s"] <= inf[k]["wall_s"]
    text = readme.read_text()
    assert text.startswith("# Recipe\n\ntext before\n\n" + BEGIN) and text.endswith(END + "\n\ntext after\n")
    assert "old" not in text and "prototype harness, 2026-12" in text  # a tiny run does not claim the recipe's table
    # an unloaded 2-core machine: under a minute; scaled when the cores are shared with other work
    busy = max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    assert rep["wall_s"] < 60 * busy, (rep["wall_s"], busy)


def test_readme_section_from_a_recipe_report(tmp_path):
    rep = {"size": "recipe", "date": "2026-12-24", "machine": {"gpu": "NVIDIA H200", "torch": "2.13", "transformers": "5.25"},
           "stages": {"codec_bf16": {"status": "ok", "precision": "bf16", "steps_per_s": 3.1, "peak_mem_gb": 20.0, "tflop_per_step": 11.3,
                                     "mfu": 0.035, "hours_for_recipe": 17.9, "recipe_max_steps": 200000, "data_wait_share": 0.02,
                                     "host_syncs_per_step": 14, "encode": {"audio_s_per_s": 400.0, "hours_all_libritts": 1.46}},
                      "lm_bf16": {"status": "error", "error": "OutOfMemoryError: CUDA out of memory"},
                      "infer_bf16": {"status": "ok", "precision": "bf16", "lm_1_rows": {"tokens_per_s": 150.0}, "lm_16_rows": {"tokens_per_s": 1800.0},
                                     "lm_states": {"utt_per_s": 300.0, "hours_libritts_train": 0.33}, "nar_and_decoder": {"rtf": 0.008},
                                     "decoder": {"rtf": 0.0006}, "e2e_1_candidates": {"rtf": 0.05, "time_to_first_audio_s": 0.3},
                                     "e2e_16_candidates": {"rtf": 0.12, "time_to_first_audio_s": 0.7}}}}
    md = render_section(rep, None)
    assert "| codec | bf16 | 3.10 | 20.00 | 11.30 | 3.5 % | 17.9 (200,000 steps) | 2 % | 14 |" in md
    assert "| lm_bf16 | | error: OutOfMemoryError" in md and "LM 16 rows 1,800 tokens/s" in md and "first audio after 0.70 s" in md
    readme = tmp_path / "R.md"
    readme.write_text("top\n")
    write_readme_section(readme, rep)
    write_readme_section(readme, rep)  # idempotent: one section, replaced
    text = readme.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1 and text.startswith("top\n\n" + BEGIN)


def test_the_recipe_readme_section_is_the_generated_one():
    """recipes/libritts/README.md holds what the generator writes from the saved JSON (not hand-typed numbers)."""
    text = (ROOT / "recipes" / "libritts" / "README.md").read_text()
    assert BEGIN in text and END in text
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        copy = Path(d) / "README.md"
        shutil.copy(ROOT / "recipes" / "libritts" / "README.md", copy)
        write_readme_section(copy, None)
        assert copy.read_text() == text, "run: python -c 'from dualtts.bench_gpu import *; write_readme_section(README, None)'"


@pytest.mark.parametrize("args", [["--help"]])
def test_the_recipe_script_and_the_cli_part(args):
    r = subprocess.run([sys.executable, str(ROOT / "recipes" / "bench" / "gpu_check.py"), *args], capture_output=True, text=True,
                       cwd=ROOT, timeout=300)
    assert r.returncode == 0 and "--dtype" in r.stdout and "--size" in r.stdout
    from dualtts.commands.bench import OPTIONAL

    assert "gpu" in OPTIONAL
