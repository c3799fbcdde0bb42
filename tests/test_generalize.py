"""Generalization: real-voice prompts (a real recording from a registry package, no transcript), the LM reading the
default voice while the acoustic stage reads the prompt (content_prompt), and sentence files for the corpus maker."""
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT / "tests" / "data" / "real_voice"


def test_content_prompt_default_reads_the_default_voice_for_the_words(tmp_path, tiny_codec, manifests, speech_dir):
    """With content_prompt='default' the LM's tokens are exactly those the default voice gets (same seed), and the
    states handed to the acoustic stage cover the given prompt's frames plus the new ones."""
    from test_flow import _model_folder

    from dualtts.synthesizer import Synthesizer

    root = _model_folder(tmp_path / "model", tiny_codec, manifests, cond_dim=32, speech_dir=speech_dir)
    tts = Synthesizer.from_pretrained(root)
    target = tts._phonemes("Hello there.", "text")
    d_codes, d_ph, *_ = tts._prompt(None, None, 15.0)
    from conftest import TEXT_B

    u_codes, u_ph, *_ = tts._prompt(str(speech_dir / "female_b.wav"), TEXT_B, 15.0)
    torch.manual_seed(0)
    ref, ref_cond = tts._semantic_tokens(d_ph, target, d_codes, seed=3, max_new_tokens=20)
    got, cond = tts._semantic_tokens(u_ph, target, u_codes, seed=3, content=(d_codes, d_ph), max_new_tokens=20)
    assert torch.equal(ref, got)
    assert cond.shape[0] == u_codes.shape[1] + got.numel()
    # content_states "content" (the default): the target's states are the default voice's; the prompt's its own
    torch.testing.assert_close(cond[u_codes.shape[1]:], ref_cond[d_codes.shape[1]:], atol=1e-4, rtol=1e-4)
    own = tts.lm.speech_states([torch.tensor(u_ph + tts.symbols.encode(" ") + target)], [u_codes[0]])[0]
    torch.testing.assert_close(cond[: u_codes.shape[1]], own, atol=1e-4, rtol=1e-4)
    tts.content_states = "prompt"
    _, cond_p = tts._semantic_tokens(u_ph, target, u_codes, seed=3, content=(d_codes, d_ph), max_new_tokens=20)
    assert cond_p.shape == cond.shape and not torch.allclose(cond_p[u_codes.shape[1]:], cond[u_codes.shape[1]:])
    tts.content_states = "content"
    wav = tts("Hello there.", prompt=str(speech_dir / "female_b.wav"), prompt_text=TEXT_B,
              content_prompt="default", steps=2, max_new_tokens=20)
    assert wav.ndim == 1 and wav.size > 0
    with pytest.raises(ValueError, match="content_prompt"):
        tts("Hello.", content_prompt="neither", steps=2, max_new_tokens=5)


def test_corpus_maker_reads_a_sentence_file(tmp_path):
    """--text-file: training voices walk through the file's distinct sentences; held-out voices say nothing."""
    from dualtts.data.corpus_maker.maker import CorpusSpec, assign_sentences

    f = tmp_path / "s.txt"
    f.write_text("One fine day.\nTwo of them.\n\nOne fine day.\nThree more here.\nFour at last.\n")
    rows = [{"speaker": "a", "heldout": "0"}, {"speaker": "b", "heldout": "1"}, {"speaker": "c", "heldout": "0"}]
    got = assign_sentences(CorpusSpec(out=tmp_path, utterances=2, text_file=str(f)), rows)
    assert got["b"] == [] and len(got["a"]) == len(got["c"]) == 2
    assert set(got["a"]) | set(got["c"]) == {"One fine day.", "Two of them.", "Three more here.", "Four at last."}
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ValueError, match="empty.txt: no sentences"):
        assign_sentences(CorpusSpec(out=tmp_path, utterances=1, text_file=str(tmp_path / "empty.txt")), rows)


def test_the_default_model_clones_a_real_recorded_voice_without_a_transcript():
    """A real recording shipped in a registry package (tests/data/real_voice/README.md: source and licence), no
    transcript (the offline ASR writes it): the default model answers with speech of a plausible length."""
    pytest.importorskip("faster_whisper", reason="a prompt without transcript needs the eval extra's ASR")
    clips = sorted(REAL.glob("*.wav"))
    assert clips, f"{REAL}: no real-voice clip"
    from dualtts import Synthesizer

    tts = Synthesizer.from_pretrained()
    text = "The weather was warm, so we walked to the park."
    wav = tts(text, prompt=str(clips[0]), candidates=1)
    seconds = len(wav) / tts.tokenizer.sample_rate
    assert 1.2 < seconds < 8.0, seconds  # ~2.5-3.5 s spoken; far shorter or longer is babble or silence
    assert float(np.sqrt(np.mean(wav ** 2))) > 0.01


def test_fold_states_makes_the_acoustic_stage_read_a_new_lm_as_the_old(tmp_path):
    """recipes/mini/generalize/fold_states.py: the fitted map recovers a known linear relation, and the folded NAR
    reads the new states exactly as the original reads the old ones (both state projections); a folder without a
    state projection is refused."""
    import importlib.util

    from dualtts.flow.nar import AcousticNAR, get_nar_config

    spec = importlib.util.spec_from_file_location("fold_states", ROOT / "recipes/mini/generalize/fold_states.py")
    fs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fs)
    g = np.random.default_rng(0)
    H = 12
    m_true, c_true = g.normal(size=(H, H)), g.normal(size=H)
    x = g.normal(size=(4000, H))
    m, c = fs.fit_map(x, x @ m_true + c_true, ridge=0.0)
    np.testing.assert_allclose(m, m_true, atol=1e-8)
    np.testing.assert_allclose(c, c_true, atol=1e-8)
    assert fs.r2(x @ m + c, x @ m_true + c_true) > 0.999999

    nar = AcousticNAR(get_nar_config("tiny", codebook_size=64, acoustic_codebook_size=32, num_quantizers=4, hidden_size=32,
                                     num_layers=1, num_heads=2, frame_rate=25.0, cond_dim=H, decoder_cond=6))
    torch.nn.init.normal_(nar.latent_cond.weight)  # (starts at zero: no change)
    nar.save_pretrained(tmp_path / "flow")
    (tmp_path / "flow" / "decoder.safetensors").write_bytes(b"kept as it is")
    assert fs.fold(tmp_path / "flow", tmp_path / "folded", m_true, c_true) == ["cond_proj", "latent_cond"]
    assert (tmp_path / "folded" / "decoder.safetensors").read_bytes() == b"kept as it is"
    folded = AcousticNAR.from_pretrained(tmp_path / "folded")
    new = torch.randn(5, H, dtype=torch.float64)
    old = new @ torch.from_numpy(m_true) + torch.from_numpy(c_true)
    for name in fs.PROJECTIONS:
        want = getattr(nar, name)(old.float())
        torch.testing.assert_close(getattr(folded, name)(new.float()), want, rtol=1e-4, atol=1e-4)
    bare = AcousticNAR(get_nar_config("tiny", codebook_size=64, acoustic_codebook_size=32, num_quantizers=4, hidden_size=32,
                                      num_layers=1, num_heads=2, frame_rate=25.0))
    bare.save_pretrained(tmp_path / "bare")
    with pytest.raises(SystemExit, match="no state projection"):
        fs.fold(tmp_path / "bare", tmp_path / "out", m_true, c_true)
    assert not (tmp_path / "out").exists()
