import json
import tarfile

import numpy as np
import pytest
import soundfile as sf
import torch

from dualtts.data.audio import AudioError
from dualtts.data.corpora import download_libritts, read_csv_folder, read_hf_dataset, read_libritts
from dualtts.data.manifest import ManifestError, Utterance, read_manifest, split_by_speaker, write_manifest
from dualtts.data.prepare import prepare_manifests
from dualtts.data.sampler import BucketBatchSampler, pad_batch
from tests.conftest import espeak


def _fake_libritts(root, subset="dev-clean", speakers=("84", "174"), n=2):
    for spk in speakers:
        d = root / subset / spk / "121123"
        d.mkdir(parents=True)
        for i in range(n):
            uid = f"{spk}_121123_{i:06d}_000000"
            espeak(d / f"{uid}.wav", f"Sentence number {i} from speaker {spk}.")
            (d / f"{uid}.normalized.txt").write_text(f"Sentence number {i} from speaker {spk}.")
    return root


def test_read_libritts_layout_and_skips(tmp_path):
    root = _fake_libritts(tmp_path / "LibriTTS")
    orphan = root / "dev-clean" / "84" / "121123" / "84_121123_000099_000000.wav"
    orphan.write_bytes((root / "dev-clean" / "84" / "121123" / "84_121123_000000_000000.wav").read_bytes())
    skipped = []
    utts = read_libritts(root, skipped=skipped)
    assert len(utts) == 4 and {u.speaker for u in utts} == {"84", "174"}
    assert all(u.extra["subset"] == "dev-clean" and u.extra["chapter"] == "121123" and u.duration > 0.5 for u in utts)
    assert len(skipped) == 1 and "no 84_121123_000099_000000.normalized.txt" in skipped[0]
    assert len(read_libritts(root / "dev-clean")) == 4  # a single subset folder works too
    with pytest.raises(FileNotFoundError, match="no LibriTTS-style utterances"):
        read_libritts(root, subsets=["test-clean"])


def test_download_helper_against_a_local_archive(tmp_path):
    src = _fake_libritts(tmp_path / "src")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with tarfile.open(mirror / "dev-clean.tar.gz", "w:gz") as tar:
        tar.add(src / "dev-clean", arcname="LibriTTS/dev-clean")
    dest = download_libritts(["dev-clean"], tmp_path / "data", base_url=mirror.as_uri())
    assert len(read_libritts(dest / "LibriTTS")) == 4
    assert not (dest / "dev-clean.tar.gz").exists() and (dest / ".dev-clean.done").exists()
    download_libritts(["dev-clean"], dest, base_url="file:///nonexistent")  # already done: no download
    with pytest.raises(ConnectionError, match="download failed"):
        download_libritts(["test-clean"], dest, base_url=mirror.as_uri())
    assert not list(dest.glob("*.part"))


def test_csv_folder(tmp_path, speech_dir):
    (tmp_path / "a.csv").write_text(
        f"path,text,speaker\n{speech_dir / 'male_a.wav'},The birch canoe.,m\n{speech_dir / 'female_a.wav'},The birch canoe.,f\n")
    utts = read_csv_folder(tmp_path / "a.csv")
    assert [u.speaker for u in utts] == ["m", "f"] and utts[0].duration > 1
    (tmp_path / "b.csv").write_text("missing.wav,hello\n")
    with pytest.raises(AudioError, match=r"missing\.wav: file not found"):
        read_csv_folder(tmp_path / "b.csv")


def test_hf_dataset_from_local_parquet(tmp_path, speech_dir):
    """A parquet file laid out like the hub's LibriTTS-R shards (Audio feature in the schema metadata)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = ["male_a", "female_b"]
    table = pa.table({
        "audio": [{"bytes": (speech_dir / f"{n}.wav").read_bytes(), "path": f"{n}.wav"} for n in names],
        "text_normalized": [f"text {i}" for i in range(2)],
        "speaker_id": [n.split("_")[0] for n in names],
        "id": [f"utt{i}" for i in range(2)],
    })
    features = {"audio": {"_type": "Audio"}, "text_normalized": {"dtype": "string", "_type": "Value"},
                "speaker_id": {"dtype": "string", "_type": "Value"}, "id": {"dtype": "string", "_type": "Value"}}
    table = table.replace_schema_metadata({"huggingface": json.dumps({"info": {"features": features}})})
    pq.write_table(table, tmp_path / "part-0.parquet")
    utts = read_hf_dataset(tmp_path / "part-0.parquet", tmp_path / "audio")
    assert [u.id for u in utts] == ["utt0", "utt1"] and [u.speaker for u in utts] == ["male", "female"]
    ref, _ = sf.read(speech_dir / "male_a.wav")
    got, _ = sf.read(utts[0].audio)
    assert np.allclose(ref, got, atol=1e-4)
    with pytest.raises(KeyError, match="missing column"):
        read_hf_dataset(tmp_path / "part-0.parquet", tmp_path / "audio", text_column="transcript")


def test_manifest_round_trip_and_errors(tmp_path):
    rows = [Utterance(id=f"u{i}", audio=f"wavs/u{i}.wav", duration=1.0 + i, speaker="s", text="hi", phonemes="hˈaɪ",
                      extra={"codes": f"codes/u{i}.npy"}) for i in range(3)]
    path = write_manifest(tmp_path / "m.jsonl", rows)
    back = read_manifest(path)
    assert [u.id for u in back] == ["u0", "u1", "u2"] and back[0].extra == {"codes": "codes/u0.npy"}
    assert back[0].audio == str((tmp_path / "wavs" / "u0.wav").resolve())
    assert json.loads(path.read_text().splitlines()[0])["phonemes"] == "hˈaɪ"
    (tmp_path / "bad.jsonl").write_text('{"id": "x", "audio": "a.wav"}\n')
    with pytest.raises(ManifestError, match=r"bad\.jsonl:1: missing field\(s\) duration, speaker, text"):
        read_manifest(tmp_path / "bad.jsonl")
    (tmp_path / "bad2.jsonl").write_text('{"id": "x",\n')
    with pytest.raises(ManifestError, match=r"bad2\.jsonl:1: not valid JSON"):
        read_manifest(tmp_path / "bad2.jsonl")


def test_speaker_disjoint_splits_keep_groups_together():
    utts = [Utterance(id=f"{s}_{i}", audio="x.wav", duration=1.0, speaker=s, text="t") for s in "abcdefghij" for i in range(3)]
    splits = split_by_speaker(utts, 0.2, 0.2, seed=1, test_speakers=["a"], groups={"a": "g1", "b": "g1", "c": "g2", "d": "g2"})
    spk = {k: {u.speaker for u in v} for k, v in splits.items()}
    assert spk["train"] and spk["dev"] and spk["test"]
    assert not (spk["train"] & spk["dev"]) and not (spk["train"] & spk["test"]) and not (spk["dev"] & spk["test"])
    assert {"a", "b"} <= spk["test"]  # "b" shares a's group
    assert len({"c", "d"} & spk["train"]) in (0, 2)
    assert sum(len(v) for v in splits.values()) == len(utts)
    assert split_by_speaker(utts, 0.2, 0.2, seed=1) == split_by_speaker(utts, 0.2, 0.2, seed=1)


def test_prepare_manifests_on_the_offline_corpus(tiny_corpus, tmp_path):
    from dualtts.data.corpus_maker import read_speakers_table
    from dualtts.data.text import SymbolTable

    sizes = prepare_manifests(read_libritts(tiny_corpus), tmp_path, corpus_root=tiny_corpus)
    held = {r["speaker"] for r in read_speakers_table(tiny_corpus / "SPEAKERS.tsv") if r["heldout"] == "1"}
    test = read_manifest(tmp_path / "test.jsonl")
    assert {u.speaker for u in test} == held and sizes["train"] > 0
    table = SymbolTable.load(tmp_path / "symbols.json")
    assert all(u.phonemes and table.encode(u.phonemes) for u in test)


def test_bucket_sampler_and_padding():
    durs = [1.0, 5.0, 1.1, 4.9, 2.0, 2.1, 3.0, 3.2, 0.9, 5.1]
    s = BucketBatchSampler(durs, max_seconds=6.0, num_buckets=3, seed=0)
    batches = list(s)
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert all(max(durs[i] for i in b) * len(b) <= 6.0 for b in batches)
    s.set_epoch(1)
    assert sorted(map(sorted, s)) == sorted(map(sorted, s))  # deterministic per epoch
    ranks = [list(BucketBatchSampler(durs, batch_size=2, num_replicas=2, rank=r)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) and not ({i for b in ranks[0] for i in b} & {i for b in ranks[1] for i in b})
    x, mask = pad_batch([torch.ones(1, 3), torch.ones(1, 5)])
    assert x.shape == (2, 1, 5) and mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert x[0, 0, 3:].abs().sum() == 0
