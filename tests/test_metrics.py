"""The metrics move the right way on real speech (espeak-ng), with the offline models."""
import json

import numpy as np
import pytest

from dualtts.data.audio import load_audio
from dualtts import metrics as M
from dualtts.cli import main

from tests.conftest import TEXT_A, TEXT_B


@pytest.fixture(scope="module")
def noisy(speech_dir, tmp_path_factory):
    from dualtts.data.audio import save_audio

    wav, sr = load_audio(speech_dir / "male_a.wav", 24000)
    rng = np.random.default_rng(0)
    out = tmp_path_factory.mktemp("noisy") / "male_a.wav"
    save_audio(out, np.clip(wav + 0.1 * rng.standard_normal(len(wav)), -1, 1), sr)
    return out


def test_signal_metrics_identity_and_degradation(speech_dir, noisy):
    ref = [speech_dir / "male_a.wav"]
    assert M.pesq(ref, ref).mean == pytest.approx(4.644, abs=1e-3)
    assert M.stoi(ref, ref).mean == pytest.approx(1.0, abs=1e-6)
    assert M.mel_distance(ref, ref).mean == pytest.approx(0.0, abs=1e-6)
    assert M.pesq(ref, [noisy]).mean < 2.5
    assert M.stoi(ref, [noisy]).mean < 0.95
    assert M.mel_distance(ref, [noisy]).mean > 0.1
    with pytest.raises(ValueError, match="1 references but 2 hypotheses"):
        M.pesq(ref, ref * 2)


def test_arrays_and_paths_agree(speech_dir):
    wav, _ = load_audio(speech_dir / "male_a.wav", 24000)
    a = M.stoi([speech_dir / "male_a.wav"], [wav], sample_rate=24000).mean
    assert a > 0.99


def test_speaker_similarity_separates_voices(speech_dir):
    same = M.speaker_similarity([speech_dir / "male_a.wav", speech_dir / "female_a.wav"],
                                [speech_dir / "male_b.wav", speech_dir / "female_b.wav"])
    diff = M.speaker_similarity([speech_dir / "male_a.wav"], [speech_dir / "female_a.wav"])
    assert M.speaker_similarity([speech_dir / "male_a.wav"], [speech_dir / "male_a.wav"]).mean == pytest.approx(1.0, abs=1e-5)
    assert min(same.items) > diff.mean + 0.1  # same voice, other text > other voice, same text


def test_wer_tiny_en(speech_dir):
    good = M.wer([TEXT_A, TEXT_B], [speech_dir / "male_a.wav", speech_dir / "male_b.wav"], model="tiny.en")
    bad = M.wer([TEXT_B, TEXT_A], [speech_dir / "male_a.wav", speech_dir / "male_b.wav"], model="tiny.en")
    assert good.mean < 0.35 and bad.mean > 0.7 and len(good.extra["hypotheses"]) == 2


def test_transcript_nll_ranks_where_wer_saturates(speech_dir, noisy, tmp_path):
    clean = [speech_dir / "male_a.wav", speech_dir / "female_b.wav"]
    right = M.transcript_nll([TEXT_A, TEXT_B], clean, model="tiny.en")
    wrong = M.transcript_nll([TEXT_B, TEXT_A], clean, model="tiny.en")
    silence = M.transcript_nll([TEXT_A], [np.zeros(24000 * 3, np.float32)], model="tiny.en")
    noise = M.transcript_nll([TEXT_A], [noisy], model="tiny.en")
    assert max(right.items) + 1.5 < min(wrong.items)
    assert right.items[0] < noise.mean < silence.mean
    with pytest.raises(ValueError, match="longer than the 30 s"):
        M.transcript_nll([TEXT_A], [np.zeros(24000 * 31, np.float32)], model="tiny.en")


def test_wer_whisper_base_from_the_packages(speech_dir):
    from dualtts.data.packaged_models import BASE_SIZE, resolve_model
    from pathlib import Path

    folder = Path(resolve_model("base"))
    assert (folder / "model.bin").stat().st_size == BASE_SIZE
    assert M.wer([TEXT_A], [speech_dir / "female_a.wav"], model="base").mean < 0.35


def test_dnsmos_prefers_clean_speech(speech_dir, noisy):
    clean, dirty = M.dnsmos([speech_dir / "male_a.wav"]), M.dnsmos([noisy])
    assert 1.0 < dirty.mean < clean.mean < 5.0
    assert set(clean.extra) == {"sig", "bak", "p808"}


def test_evaluate_cli_on_a_corpus_against_itself(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "report.json"
    assert main(["evaluate", "--ref", str(tiny_corpus), "--hyp", str(tiny_corpus), "--asr-model", "tiny.en",
                 "--per-speaker", "1", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "espeak-ng" in table and "ALL" in table
    rep = json.loads(out.read_text())
    o = rep["overall"]
    assert rep["n"] == 5 and rep["group_by"] == "engine"
    assert o["sim"] == pytest.approx(1.0, abs=1e-4) and o["pesq"] == pytest.approx(4.644, abs=1e-3)
    assert o["stoi"] == pytest.approx(1.0, abs=1e-4) and o["mel"] == pytest.approx(0.0, abs=1e-5)
    assert o["wer"] < 0.6 and 1.0 < o["dnsmos"] < 5.0


def test_evaluate_against_another_speaker_lowers_similarity(tiny_corpus, tmp_path):
    """Hypotheses = the same ids spoken by a different voice: SIM and PESQ drop."""
    from dualtts.data.corpus_maker import read_speakers_table
    from dualtts.evaluate import evaluate
    import shutil

    rows = read_speakers_table(tiny_corpus / "SPEAKERS.tsv")
    a, b = rows[0]["speaker"], rows[1]["speaker"]
    hyp = tmp_path / "hyp"
    hyp.mkdir()
    wavs_a = sorted(tiny_corpus.rglob(f"{a}_*.wav"))
    wavs_b = sorted(tiny_corpus.rglob(f"{b}_*.wav"))
    for wa, wb in zip(wavs_a, wavs_b):
        shutil.copy(wb, hyp / wa.name)  # speaker b's audio under speaker a's ids
    rep = evaluate(tiny_corpus, hyp, metrics=("sim", "pesq"))
    assert rep["n"] == 3 and rep["missing_hypotheses"] == 12
    # a per-speaker sample counts as missing only the clips it wanted: 1 of speaker a's is there, 1 of each other's is not
    one = evaluate(tiny_corpus, hyp, metrics=("mel",), per_speaker=1)
    assert one["n"] == 1 and one["missing_hypotheses"] == len({r["speaker"] for r in rows}) - 1
    assert rep["overall"]["sim"] < 0.9 and rep["overall"]["pesq"] < 2.0


def test_evaluate_update_adds_only_missing_metrics(tiny_corpus, tmp_path, capsys):
    out = tmp_path / "report.json"
    args = ["evaluate", "--ref", str(tiny_corpus), "--hyp", str(tiny_corpus), "--per-speaker", "1", "--out", str(out)]
    assert main(args + ["--metrics", "mel"]) == 0
    first = json.loads(out.read_text())
    assert main(args + ["--metrics", "mel,stoi", "--update"]) == 0
    rep = json.loads(out.read_text())
    assert [r["id"] for r in rep["items"]] == [r["id"] for r in first["items"]]
    assert rep["overall"]["mel"] == first["overall"]["mel"] and rep["overall"]["stoi"] == pytest.approx(1.0, abs=1e-4)
    assert all("stoi" in g for g in rep["groups"].values())
    capsys.readouterr()
    assert main(args + ["--metrics", "stoi", "--update"]) == 0
    assert "already" in capsys.readouterr().out
    # a report of other clips is refused
    from dualtts.evaluate import evaluate, merge_reports
    other = evaluate(tiny_corpus, tiny_corpus, metrics=("mel",), per_speaker=2)
    with pytest.raises(ValueError, match="different clips"):
        merge_reports(rep, other)


def test_evaluate_errors(tmp_path, capsys):
    assert main(["evaluate", "--ref", str(tmp_path / "nope"), "--hyp", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    (tmp_path / "r").mkdir()
    assert main(["evaluate", "--ref", str(tmp_path / "r"), "--hyp", str(tmp_path), "--metrics", "bogus"]) == 2


def test_bootstrap_intervals_and_paired_differences():
    from dualtts.evaluate import bootstrap_ci, paired_bootstrap

    rng = np.random.default_rng(0)
    base = [{"id": str(i), "wer": float(w), "ref_words": 10} for i, w in enumerate(rng.uniform(0.2, 0.8, 60))]
    ci = bootstrap_ci(base, "wer")
    assert ci["n"] == 60 and ci["ci95"][0] < ci["mean"] < ci["ci95"][1] < 1
    # corpus-level WER: a long clip weighs more than a short one
    assert bootstrap_ci([{"wer": 1.0, "ref_words": 1}, {"wer": 0.0, "ref_words": 9}], "wer")["mean"] == 0.1
    worse = [{**r, "wer": r["wer"] + 0.1} for r in base]
    d = paired_bootstrap(worse, base, "wer")
    assert abs(d["mean"] - 0.1) < 1e-9 and d["wins"] == 60 and d["ci95"][0] > 0.09
    noisy = [{**r, "wer": r["wer"] + float(e)} for r, e in zip(base, rng.normal(0, 0.2, 60))]
    d = paired_bootstrap(noisy, base, "wer")
    assert d["ci95"][0] < d["mean"] < d["ci95"][1] and d["ci95"][1] - d["ci95"][0] > 0.05
    assert bootstrap_ci([{"wer": float("nan"), "ref_words": 3}], "wer") is None
