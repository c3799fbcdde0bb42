"""Codec training on the shared accelerate loop: loss goes down, checkpoints resume exactly, 2 CPU processes work."""
import json
from pathlib import Path

import pytest
import torch
import yaml

from dualtts.codec.train import CodecTask, load_train_config
from dualtts.training.loop import Trainer

from conftest import TINY_CODEC as TINY_MODEL
from conftest import accelerate_launch

def _config(manifests, out_dir, **train):
    d = {"model": TINY_MODEL, "train_manifest": str(manifests / "train.jsonl"), "val_manifest": str(manifests / "test.jsonl"),
         "segment_seconds": 0.4, "batch_size": 2, "val_utterances": 1, "disc_channels": 4,
         "train": {"out_dir": str(out_dir), "max_steps": 4, "lr": 1e-3, "warmup_steps": 1, "log_every": 1, "val_every": 0,
                   "save_every": 2, **train}}
    return d


def test_loss_goes_down_on_a_fixed_batch(manifests, tmp_path):
    torch.manual_seed(0)
    cfg = load_train_config(_write(tmp_path, _config(manifests, tmp_path / "run", max_steps=100)), ["gan=false", "loss.semantic=0"])
    task = CodecTask(cfg)
    trainer = Trainer(cfg.train, task)
    batch = next(iter(task.train_loader(0, 0)))
    task.codec.acoustic_rvq.bypass = 0.0
    losses = [task.train_step(batch, trainer.update, i)["mel"] for i in range(25)]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5, losses


def test_resume_is_exact(manifests, tmp_path):
    full = load_train_config(_write(tmp_path, _config(manifests, tmp_path / "full")))
    Trainer(full.train, CodecTask(full)).fit(resume=False)

    half = load_train_config(_write(tmp_path, _config(manifests, tmp_path / "half", save_every=0)))
    Trainer(half.train, CodecTask(half)).fit(resume=False, until=3)  # interrupted after step 3 (odd: mid-epoch)
    out = Trainer(half.train, CodecTask(half)).fit(resume=True)
    assert out["step"] == 4

    from safetensors.torch import load_file

    a = load_file(str(tmp_path / "full/checkpoints/step-4/generator.safetensors"))
    b = load_file(str(tmp_path / "half/checkpoints/step-4/generator.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "half/checkpoints/latest").read_text() == "step-4"
    assert not (tmp_path / "half/checkpoints/step-2").exists() and (tmp_path / "half/checkpoints/step-3").exists()
    assert (tmp_path / "half/checkpoints/step-4/codec/model.safetensors").is_file()  # directly loadable codec
    assert not list((tmp_path / "half/checkpoints").glob(".tmp-*"))


def test_cli_train_and_validation(manifests, tmp_path, capsys):
    from dualtts.cli import main

    cfg = _write(tmp_path, _config(manifests, tmp_path / "cli", max_steps=2, val_every=2))
    assert main(["train", "codec", "--config", str(cfg), "train.save_every=0"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2 and "mel" in summary
    val = json.loads((tmp_path / "cli/validation.jsonl").read_text().splitlines()[-1])
    assert {"mel_all", "stoi_all", "pesq_all", "mel_rvq1"} <= set(val)
    assert main(["train", "codec", "--config", str(cfg), "nonsense=1"]) == 2


def test_accelerate_launch_two_cpu_processes(manifests, tmp_path):
    cfg = _write(tmp_path, _config(manifests, tmp_path / "ddp", max_steps=2, save_every=2))
    r = accelerate_launch("train", "codec", "--config", str(cfg))
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "ddp/checkpoints/step-2/generator.safetensors").is_file()


def _write(tmp_path, d) -> Path:
    p = tmp_path / f"cfg-{abs(hash(json.dumps(d, sort_keys=True)))}.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


@pytest.fixture
def fresh_accelerate_state():
    """accelerate keeps one precision per process: start and leave this test with no state set."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    yield
    AcceleratorState._reset_state()


def test_bf16_mixed_precision_steps_run_with_the_gan(manifests, tmp_path, fresh_accelerate_state):
    """The bf16 option (meant for GPUs) runs the generator and discriminator steps under autocast here on the CPU."""
    cfg = load_train_config(_write(tmp_path, _config(manifests, tmp_path / "bf16", max_steps=2, mixed_precision="bf16")))
    task = CodecTask(cfg)
    seen = set()
    lin = next(m for m in task.codec.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv1d)) and m.weight.requires_grad)
    lin.register_forward_hook(lambda m, i, o: seen.add(o.dtype))
    out = Trainer(cfg.train, task).fit(resume=False)
    logs = out["history"][-1]
    assert torch.bfloat16 in seen, seen
    assert out["step"] == 2 and all(torch.isfinite(torch.tensor(v)) for v in logs.values()), logs
    assert {"mel", "d_loss", "adv"} <= set(logs)
    assert all(p.dtype == torch.float32 for p in task.codec.parameters())  # weights stay fp32; autocast computes in bf16


def test_warm_start_copies_every_same_shaped_tensor(tiny_codec, capsys):
    """A 12.5 Hz codec from a 25 Hz checkpoint: all but the frame-size layers are copied, and said so."""
    from dualtts.codec.config import DualCodecConfig
    from dualtts.codec.model import DualCodec
    from dualtts.codec.train import warm_start

    src = DualCodec.from_pretrained(tiny_codec)
    torch.manual_seed(1)
    dst = DualCodec(DualCodecConfig.from_dict({**TINY_MODEL, "hop_length": 1920, "spec_upsample": 8}))
    res = warm_start(dst, str(tiny_codec))
    assert res["copied"] > 50 and "encoder.inp.weight" in res["skipped"]
    own, theirs = dst.state_dict(), src.state_dict()
    assert all(torch.equal(own[k], theirs[k]) for k in theirs if k not in res["skipped"])
    assert "tensors copied" in capsys.readouterr().err


def test_kill9_mid_run_then_resume_continues_the_same_curve(manifests, tmp_path):
    """With the GAN on from step 0: generator and discriminator states both come back."""
    from conftest import assert_kill9_resume_is_exact

    assert_kill9_resume_is_exact("codec", lambda name, **kw: _write(tmp_path, _config(manifests, tmp_path / name, **kw)), steps=16)


def test_speaker_augmented_steps_with_the_semantic_stream_frozen(manifests, tmp_path):
    """augment + freeze (recipes/mini/voices.sh): the crops the loader hands out are augmented (the same crops
    otherwise), two steps run, and the frozen semantic stream's weights do not move while the decoder's do."""
    cfg = load_train_config(_write(tmp_path, _config(manifests, tmp_path / "aug", max_steps=2)),
                            ["gan=false", "augment={p: 1.0}", "freeze=[semantic_encoder,semantic_vq]"])
    from dualtts.codec.train import CropDataset

    task = CodecTask(cfg)
    seg = int(cfg.segment_seconds * task.codec.sample_rate)
    aug, plain = (CropDataset(task.train_paths, task.codec.sample_rate, seg, augment=x)[0] for x in (task.augment, None))
    assert aug.shape == plain.shape and not torch.allclose(aug, plain)
    before = {k: v.clone() for k, v in task.codec.state_dict().items() if k.startswith(("semantic_encoder.", "decoder."))}
    out = Trainer(cfg.train, task).fit(resume=False)
    assert out["step"] == 2
    after = task.codec.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("semantic_encoder."))
    assert any(not torch.equal(after[k], v) for k, v in before.items() if k.startswith("decoder."))
    with pytest.raises(ValueError, match="freeze"):
        CodecTask(load_train_config(_write(tmp_path, _config(manifests, tmp_path / "bad")), ["freeze=[no_such_part]"]))
