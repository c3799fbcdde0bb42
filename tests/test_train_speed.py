"""Training speed options of the one loop: typed CLI overrides, bf16 for every stage, the teacher-feature
cache, and torch.compile with its eager fallback."""
import numpy as np
import pytest
import torch
import yaml

from dualtts.codec.train import CodecTask, load_train_config
from dualtts.training.config import apply_overrides, parse_value
from dualtts.training.loop import TrainConfig, Trainer

from conftest import TINY_CODEC


@pytest.fixture
def fresh_accelerate_state():
    """accelerate keeps one precision per process: start and leave each test with no state set."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state()
    yield
    AcceleratorState._reset_state()


def test_overrides_are_read_as_the_field_type():
    from dualtts.codec.train import CodecTrainConfig

    d = apply_overrides({}, ["train.mixed_precision=no", "train.lr=1e-4", "train.max_steps=3", "init=null", "gan=off",
                             "train.best_metric=yes", "train.betas=[0.9, 0.99]", "loss.mel=2"], schema=CodecTrainConfig)
    assert d["train"]["mixed_precision"] == "no"          # a str field keeps the word (YAML would say False)
    assert d["train"]["lr"] == 1e-4 and isinstance(d["train"]["lr"], float)  # YAML 1.1 reads 1e-4 as a string
    assert d["train"]["max_steps"] == 3 and d["init"] is None and d["gan"] is False
    assert d["train"]["best_metric"] == "yes" and d["train"]["betas"] == [0.9, 0.99] and d["loss"] == {"mel": 2}
    assert parse_value("no") is False  # no schema: plain YAML
    cfg = load_train_config(None, ["train.mixed_precision=no", "train.compile=true"])
    assert cfg.train.mixed_precision == "no" and cfg.train.compile is True


def _codec_yaml(tmp_path, manifests, name, **top):
    d = {"model": {**TINY_CODEC, "dead_code_after": 2}, "train_manifest": str(manifests / "train.jsonl"), "val_manifest": None,
         "segment_seconds": 0.4, "batch_size": 2, "disc_channels": 4, "gan_start_step": 2, **top,
         "train": {"out_dir": str(tmp_path / name), "max_steps": 4, "lr": 1e-3, "warmup_steps": 1, "log_every": 1,
                   "val_every": 0, "save_every": 0}}
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_codec_bf16_steps_restart_dead_codes_and_keep_fp32_state(manifests, tmp_path, fresh_accelerate_state):
    cfg = load_train_config(_codec_yaml(tmp_path, manifests, "bf16"), ["train.mixed_precision=bf16"])
    task = CodecTask(cfg)
    seen = set()
    conv = task.codec.encoder.inp
    conv.register_forward_hook(lambda m, i, o: seen.add(o.dtype))
    trainer = Trainer(cfg.train, task)
    out = trainer.fit(resume=False)
    assert torch.bfloat16 in seen
    assert out["step"] == 4 and all(np.isfinite(v) for h in out["history"] for v in h.values())
    assert {"d_loss", "adv", "mel"} <= set(out["history"][-1])  # generator and discriminators under bf16
    assert all(p.dtype == torch.float32 for p in task.codec.parameters())
    assert all(p.dtype == torch.float32 for p in task.disc.parameters())
    states = [s for o in trainer.opts.values() for s in o.state.values()]
    assert states and all(v.dtype == torch.float32 for s in states for k, v in s.items() if k != "step")


def test_lm_and_flow_take_a_bf16_step(tmp_path, token_manifests, manifests, tiny_codec, fresh_accelerate_state):
    from dualtts.flow.train import FlowTask, load_flow_train_config
    from dualtts.lm.train import LMTask, load_lm_train_config
    from test_flow import _train_yaml as flow_yaml
    from test_lm import _train_yaml as lm_yaml

    for load, task_cls, path in (
            (load_lm_train_config, LMTask, lm_yaml(tmp_path, token_manifests, manifests, tmp_path / "lm", max_steps=1, save_every=0)),
            (load_flow_train_config, FlowTask, flow_yaml(tmp_path, token_manifests, tiny_codec, tmp_path / "flow", max_steps=1, save_every=0))):
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state()
        cfg = load(path, ["train.mixed_precision=bf16"])
        task = task_cls(cfg)
        seen = set()
        mod = next(iter(task.modules().values()))
        lin = next(m for m in mod.modules() if isinstance(m, torch.nn.Linear))
        lin.register_forward_hook(lambda m, i, o: seen.add(o.dtype))
        out = Trainer(cfg.train, task).fit(resume=False)
        assert out["step"] == 1 and np.isfinite(out["history"][-1]["loss"]), out
        assert torch.bfloat16 in seen and all(p.dtype == torch.float32 for p in mod.parameters())


def test_teacher_cache_is_computed_once_and_matches_the_teacher(manifests, tmp_path):
    from dualtts.codec.feature_cache import TeacherCache
    from dualtts.data.audio import load_audio, resample
    from dualtts.data.manifest import read_manifest

    cfg = load_train_config(_codec_yaml(tmp_path, manifests, "cache", gan=False, teacher_cache=str(tmp_path / "tc")))
    task = CodecTask(cfg)
    paths = task.train_paths
    files = list((tmp_path / "tc").rglob("*.safetensors"))
    assert len(files) == len(paths)  # filled at start, one file per utterance
    ssl = task.codec.ssl
    wav, sr = load_audio(paths[0], 24000)
    direct = ssl.raw(torch.from_numpy(resample(wav, sr, 16000))[None].float())[0]
    cached = task.cache.get(paths[0])
    assert cached.shape == direct.shape and torch.allclose(cached, direct, atol=2e-2 * float(direct.abs().max()))

    again = TeacherCache(tmp_path / "tc", ssl, 24000)  # another run: reads, never recomputes
    again.compute = lambda p: pytest.fail("recomputed a cached utterance")
    assert again.fill(paths) == 0 and torch.equal(again.get(paths[0]), cached)

    item = task.train_loader(0, 0).dataset[0]
    hop = task.codec.cfg.hop_length
    frames = -(-int(0.4 * 24000) // hop)
    assert item["wav"].shape == (1, int(0.4 * 24000)) and item["teacher"].shape == (ssl.cfg.dim, frames * hop // 480)
    trainer = Trainer(cfg.train, task)
    out = trainer.fit(resume=False)
    assert out["step"] == 4 and np.isfinite(out["history"][-1]["semantic"])
    assert len(read_manifest(manifests / "train.jsonl")) == len(paths)


def test_compile_option_trains_and_falls_back_to_eager(manifests, tmp_path, monkeypatch, capsys):
    from dualtts.lm.train import LMTask  # noqa: F401  (imports stay light: the codec stage is what we compile)

    orig = torch.nn.Module.compile

    def failing_backend(gm, example_inputs):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: orig(self, backend=failing_backend))
    cfg = load_train_config(_codec_yaml(tmp_path, manifests, "compile", gan=False), ["train.compile=true", "train.max_steps=2"])
    task = CodecTask(cfg)
    trainer = Trainer(cfg.train, task)
    assert trainer.compiled
    out = trainer.fit(resume=False)
    assert out["step"] == 2 and not trainer.compiled and trainer.first_step_s is not None
    assert "torch.compile failed" in capsys.readouterr().err

    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: orig(self, backend="eager"))
    cfg = load_train_config(_codec_yaml(tmp_path, manifests, "compile-ok", gan=False), ["train.compile=true", "train.max_steps=2"])
    task = CodecTask(cfg)
    trainer = Trainer(cfg.train, task)
    assert trainer.fit(resume=False)["step"] == 2 and trainer.compiled
    assert not any("_orig_mod" in k for k in task.codec.state_dict())  # checkpoints keep the eager names
    assert TrainConfig().compile is False
