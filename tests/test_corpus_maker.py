import os

import pytest
import soundfile as sf

from dualtts.data.corpora import read_libritts
from dualtts.data.corpus_maker import CATALOG, CorpusSpec, make_corpus, read_speakers_table
from dualtts.data.corpus_maker.maker import pick_heldout, pick_voices
from dualtts.cli import main


def test_tiny_corpus_is_libritts_shaped(tiny_corpus):
    rows = read_speakers_table(tiny_corpus / "SPEAKERS.tsv")
    assert len(rows) == 5 and set(rows[0]) >= {"speaker", "engine", "voice", "gender", "group", "heldout"}
    assert sum(r["heldout"] == "1" for r in rows) >= 1
    utts = read_libritts(tiny_corpus)
    assert len(utts) == 15
    for u in utts:
        info = sf.info(u.audio)
        assert (info.samplerate, info.channels, info.subtype) == (24000, 1, "PCM_16")
        assert 0.8 < u.duration < 10
        row = next(r for r in rows if r["speaker"] == u.speaker)
        assert u.extra["subset"] == row["subset"]
    assert len({u.text for u in utts}) > 5  # speakers read different sentences


def test_rerun_resumes_without_resynthesizing(tiny_corpus):
    wav = next(tiny_corpus.rglob("*.wav"))
    before = os.stat(wav).st_mtime_ns
    s = make_corpus(CorpusSpec(out=tiny_corpus, speakers=5, utterances=3, engines=["espeak-ng"], holdout=1), log=lambda *_: None)
    assert s["new_audio_hours"] == 0 and os.stat(wav).st_mtime_ns == before
    with pytest.raises(ValueError, match="holds a corpus made with other settings"):
        make_corpus(CorpusSpec(out=tiny_corpus, speakers=5, utterances=4, engines=["espeak-ng"], holdout=1), log=lambda *_: None)


def test_voice_choice_spreads_engines_and_holds_out_whole_groups():
    voices = pick_voices(CATALOG, 30)
    assert len({v.engine for v in voices[:7]}) == 7  # round robin over engines
    held = pick_heldout(voices, 5, seed=0)
    held_voices = [v for v in voices if v.key in held]
    assert len(held) >= 5 and len({v.engine for v in held_voices}) >= 4
    held_groups = {v.group for v in held_voices}
    assert all(v.key in held for v in voices if v.group in held_groups)  # e.g. every "slt" voice together
    assert pick_heldout(voices, 5, seed=0) == held


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match=r"asked for 99 speakers but only \d+ voices are installed"):
        make_corpus(CorpusSpec(out=tmp_path, speakers=99, engines=["espeak-ng"]), log=lambda *_: None)
    with pytest.raises(KeyError, match="unknown engine"):
        make_corpus(CorpusSpec(out=tmp_path, speakers=1, engines=["nope"]), log=lambda *_: None)


def test_cli_make_corpus(tmp_path, capsys):
    assert main(["make-corpus", "--out", str(tmp_path / "c"), "--speakers", "2", "--utterances", "1",
                 "--engines", "espeak-ng", "--holdout", "1"]) == 0
    assert '"speakers": 2' in capsys.readouterr().out
    assert len(list((tmp_path / "c").rglob("*.wav"))) == 2
    assert main(["make-corpus", "--out", str(tmp_path / "d"), "--speakers", "500"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: asked for 500 speakers") and "\n" not in err
    assert main(["make-corpus", "--list-engines"]) == 0
    assert "espeak-ng" in capsys.readouterr().out


def test_grammar_sentences_and_held_out_sentences():
    from pathlib import Path

    from dualtts.data.corpus_maker.maker import assign_sentences
    from dualtts.data.corpus_maker.sentences import generated_sentences, harvard_sentences
    from dualtts.data.text import normalize_text

    gen = generated_sentences(3000, seed=0)
    assert len(set(gen)) == 3000 and gen == generated_sentences(3000, seed=0) and gen != generated_sentences(3000, seed=1)
    assert all(s[0].isupper() and s[-1] in ".?" and not any(c.isdigit() for c in s) for s in gen)
    assert all(normalize_text(s) == s for s in gen[:200])  # nothing for the frontend to expand
    rows = [{"speaker": str(9000 + i), "heldout": "1" if i < 2 else "0"} for i in range(10)]
    spec = CorpusSpec(out=Path("unused"), utterances=150, text="mixed", generated=3000, heldout_sentences=50)
    got = assign_sentences(spec, rows)
    held = {s for r in rows[:2] for s in got[r["speaker"]]}
    train = [s for r in rows[2:] for s in got[r["speaker"]]]
    assert len(held) <= 50 and held <= set(harvard_sentences()) and not held & set(train)
    assert len(set(train)) == len(train) == 8 * 150  # every training utterance says a different sentence
    assert got == assign_sentences(spec, rows)  # deterministic
    with pytest.raises(ValueError, match="at most"):
        assign_sentences(CorpusSpec(out=Path("unused"), utterances=900), rows)


def test_varied_text_adds_word_sentences_over_a_wider_vocabulary():
    from dualtts.data.corpus_maker.sentences import generated_sentences, sentence_pool, word_sentences
    from dualtts.data.text import normalize_text

    words = word_sentences(2000, seed=0)
    assert len(set(words)) == 2000 and words == word_sentences(2000, seed=0) and words != word_sentences(2000, seed=1)
    assert all(s[0].isupper() and s[-1] in ".?" and 5 <= len(s.split()) <= 13 for s in words)
    assert all(normalize_text(s) == s for s in words[:300])
    vocab = lambda ss: {w.strip(".,?").lower() for s in ss for w in s.split()}  # noqa: E731
    assert len(vocab(words)) > 3 * len(vocab(generated_sentences(2000, seed=0)))
    pool = sentence_pool("varied", 3000)
    assert len(pool) == len(set(pool)) == len(sentence_pool("harvard")) + 3000
    assert set(word_sentences(1500)) < set(pool)
    with pytest.raises(ValueError, match="unknown text source"):
        sentence_pool("novels")
