"""Decoder fine-tuning on the NAR's soft latents: batched NAR sampling, the mel loss going down, only the decoder
changing, the CLI, and an exact resume."""
import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import assert_resume_is_exact
from dualtts.flow.decoder_train import DecoderTask, load_decoder_train_config
from dualtts.flow.nar import AcousticNAR, get_nar_config
from dualtts.training.loop import Trainer


@pytest.fixture(scope="module")
def tiny_nar(tmp_path_factory) -> Path:
    """A random NAR over the tiny codec's codebooks (64 semantic, 3 x 32 acoustic)."""
    torch.manual_seed(0)
    nar = AcousticNAR(get_nar_config("tiny", codebook_size=64, acoustic_codebook_size=32, num_quantizers=4, frame_rate=25.0,
                                     hidden_size=32, num_layers=1, num_heads=2, dropout=0.0))
    return nar.save_pretrained(tmp_path_factory.mktemp("nar") / "nar")


def _yaml(tmp_path, token_manifests, tiny_codec, tiny_nar, name="run", **train):
    d = {"codec": str(tiny_codec), "nar": str(tiny_nar),
         "train_manifest": str(token_manifests / "train" / "manifest.jsonl"),
         "val_manifest": str(token_manifests / "test" / "manifest.jsonl"),
         "batch_size": 4, "window_frames": 40, "crop_frames": 12, "val_utterances": 4,
         "train": {"out_dir": str(tmp_path / name), "max_steps": 4, "lr": 3e-3, "warmup_steps": 1, "log_every": 1,
                   "val_every": 0, "save_every": 2, "mixed_precision": "no", **train}}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(d))
    return str(path)


def test_batched_nar_sampling_matches_one_row_at_a_time(tiny_nar):
    nar = AcousticNAR.from_pretrained(tiny_nar)
    g = torch.Generator().manual_seed(1)
    codes = torch.randint(0, 32, (2, 4, 10), generator=g)
    plen = torch.tensor([3, 6])
    both, probs = nar.sample(codes, plen, soft=True, key_mask=torch.ones(2, 10, dtype=torch.bool))
    assert probs.shape == (2, 3, 10, 32)
    for b in range(2):
        one, p1 = nar.sample(codes[b:b + 1], int(plen[b]), soft=True)
        assert torch.equal(one[0], both[b]) and torch.allclose(p1[0], probs[b], atol=1e-5)
        assert torch.equal(both[b, :, : plen[b]], codes[b, :, : plen[b]])  # the prompt's codes stay


def test_fine_tuning_lowers_the_soft_latent_mel_loss_and_changes_only_the_decoder(tmp_path, token_manifests, tiny_codec, tiny_nar):
    cfg = load_decoder_train_config(_yaml(tmp_path, token_manifests, tiny_codec, tiny_nar, max_steps=30, save_every=30))
    task = DecoderTask(cfg)
    trainer = Trainer(cfg.train, task)
    before = task.validate(trainer.accelerator, None, 0)
    assert before["loss"] > 0 and before["mel_true"] > 0
    trainer.fit(resume=False)
    after = task.validate(trainer.accelerator, None, 30)
    assert after["loss"] < 0.9 * before["loss"], (before, after)
    old = load_file(str(Path(tiny_codec) / "model.safetensors"))
    new = load_file(str(Path(cfg.train.out_dir) / "checkpoints" / "step-30" / "codec" / "model.safetensors"))
    assert old.keys() == new.keys()
    changed = {k for k in old if not torch.equal(old[k], new[k])}
    assert changed and all(k.startswith("decoder.") for k in changed), sorted(changed)[:5]


def test_cli_train_decoder(tmp_path, token_manifests, tiny_codec, tiny_nar, capsys):
    from dualtts.cli import main

    assert main(["train", "decoder", "--config", _yaml(tmp_path, token_manifests, tiny_codec, tiny_nar, max_steps=2, val_every=2)]) == 0
    val = json.loads((tmp_path / "run" / "validation.jsonl").read_text().splitlines()[-1])
    assert val["step"] == 2 and val["loss"] > 0 and val["mel_true"] > 0
    assert (tmp_path / "run" / "checkpoints" / "step-2" / "codec" / "config.yaml").is_file()


def test_missing_nar_is_a_clear_error(tmp_path, token_manifests, tiny_codec):
    cfg = load_decoder_train_config(_yaml(tmp_path, token_manifests, tiny_codec, ""))
    with pytest.raises(ValueError, match="nar="):
        DecoderTask(cfg)


def test_resume_is_exact(tmp_path, token_manifests, tiny_codec, tiny_nar):
    assert_resume_is_exact(load_decoder_train_config, DecoderTask,
                           lambda name, **kw: _yaml(tmp_path, token_manifests, tiny_codec, tiny_nar, name, **kw))


def test_the_tuned_decoder_ships_in_the_stage_folder_and_loads_over_the_codecs(tmp_path, token_manifests, tiny_codec, tiny_nar):
    import shutil

    from dualtts.codec.tokenizer import load_tokenizer
    from dualtts.flow.decoder_train import write_tuned_decoder
    from dualtts.flow.infer import attach_tuned_decoder, load_acoustic_stage

    cfg = load_decoder_train_config(_yaml(tmp_path, token_manifests, tiny_codec, tiny_nar, max_steps=2, save_every=2))
    Trainer(cfg.train, DecoderTask(cfg)).fit(resume=False)
    tuned = Path(cfg.train.out_dir) / "checkpoints" / "step-2" / "codec"
    stage_dir = tmp_path / "stage"
    shutil.copytree(tiny_nar, stage_dir)
    stage = load_acoustic_stage(str(stage_dir))
    tok = load_tokenizer(f"dualcodec:{tiny_codec}")
    assert not attach_tuned_decoder(stage, tok)  # no decoder.safetensors: the codec's own stays
    codes = torch.randint(0, 32, (1, 4, 20))
    before = tok.decode(codes)
    assert write_tuned_decoder(tuned, stage_dir) > 0
    stage = load_acoustic_stage(str(stage_dir))
    assert attach_tuned_decoder(stage, tok)
    want = load_file(str(tuned / "model.safetensors"))
    for k, v in tok.decoder.state_dict().items():
        assert torch.allclose(v, want[f"decoder.{k}"].half().float()), k
    assert not torch.allclose(tok.decode(codes), before)
    from safetensors.torch import save_file

    save_file({"head.proj.weight": torch.zeros(3, 3)}, str(stage_dir / "decoder.safetensors"))
    with pytest.raises(ValueError, match="does not fit this codec's decoder"):  # another codec's: an error, not silence
        attach_tuned_decoder(stage, load_tokenizer(f"dualcodec:{tiny_codec}"))


def test_state_adapter_trains_the_lm_states_projection_and_the_nar_ships_it(tmp_path, token_manifests, tiny_codec):
    """state_adapter: the LM states' projection onto the decoder input trains with the decoder (lowering the mel
    loss), is saved with the NAR (decoder_cond), and fill_utterance adds it to what the decoder reads."""
    import numpy as np

    from dualtts.codec.tokenizer import load_tokenizer
    from dualtts.data.manifest import read_codes
    from dualtts.flow.infer import fill_utterance

    torch.manual_seed(0)
    nar_dir = AcousticNAR(get_nar_config("tiny", codebook_size=64, acoustic_codebook_size=32, num_quantizers=4, frame_rate=25.0,
                                         hidden_size=32, num_layers=1, num_heads=2, dropout=0.0, cond_dim=8)
                          ).save_pretrained(tmp_path / "nar")
    states = tmp_path / "states"
    states.mkdir()
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        utts, codes = read_codes(str(token_manifests / split / "manifest.jsonl"))
        for u, c in zip(utts, codes):  # states that tell the frames apart (as the LM's do)
            np.save(states / f"{u.id}.npy", rng.standard_normal((c.shape[1], 8)).astype(np.float16))
    path = _yaml(tmp_path, token_manifests, tiny_codec, nar_dir, max_steps=30, save_every=30)
    d = yaml.safe_load(Path(path).read_text())
    d.update(lm_states=str(states), state_adapter=True)
    Path(path).write_text(yaml.safe_dump(d))
    cfg = load_decoder_train_config(path)
    task = DecoderTask(cfg)
    assert task.nar.cfg.decoder_cond == task.codec.cfg.latent_dim and not task.nar.latent_cond.weight.any()
    trainer = Trainer(cfg.train, task)
    before = task.validate(trainer.accelerator, None, 0)
    trainer.fit(resume=False)
    after = task.validate(trainer.accelerator, None, 30)
    assert after["loss"] < 0.9 * before["loss"], (before, after)
    saved = AcousticNAR.from_pretrained(Path(cfg.train.out_dir) / "checkpoints" / "step-30" / "nar")
    assert saved.cfg.decoder_cond == task.codec.cfg.latent_dim and saved.latent_cond.weight.abs().sum() > 0
    base = AcousticNAR.from_pretrained(nar_dir)
    for k, v in base.state_dict().items():  # the NAR itself is unchanged: only the projection is new
        assert torch.equal(v, saved.state_dict()[k]), k
    tok = load_tokenizer(f"dualcodec:{tiny_codec}")
    codes = torch.randint(0, 32, (4, 30))
    cond = torch.randn(30, 8)
    with_states = fill_utterance(saved.eval(), tok, codes[0, 10:], codes[:, :10], prompt_seconds=None, cond=cond)
    saved.latent_cond.weight.data.zero_()
    saved.latent_cond.bias.data.zero_()
    without = fill_utterance(saved, tok, codes[0, 10:], codes[:, :10], prompt_seconds=None, cond=cond)
    assert with_states.shape == without.shape and not torch.allclose(with_states, without)
