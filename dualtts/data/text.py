"""Text frontend: normalization, phonemization (phonemizer + espeak-ng), symbol tables, phoneme BPE.

Phoneme strings are IPA with stress marks, words separated by single spaces and punctuation kept
(``"Hello, world." -> "həlˈoʊ, wˈɜːld."``). Models see them as symbol ids through a
:class:`SymbolTable` that is saved next to every model (``symbols.json``), optionally grouped into
sentencepiece BPE pieces (:class:`PhonemeBPE`). Bad text raises :class:`TextError` with a one-line
message naming the text (or its file) and the problem.
"""
from __future__ import annotations

import functools
import io
import json
import os
import re
import unicodedata
from pathlib import Path
from typing import Iterable, Sequence

from dualtts.data.atomic import write_text_atomic

PUNCTUATION = ';:,.!?¡¿—…"«»“”()'
SPECIALS = ("<pad>", "<unk>", "<bos>", "<eos>")
WORD_SEP = " "


class TextError(ValueError):
    """Bad text input. ``str(err)`` is one line: ``<source>: <problem>``."""

    def __init__(self, source: str | None, problem: str):
        self.source = source or "<text>"
        self.problem = problem
        super().__init__(f"{self.source}: {problem}")


def _show(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


_REPLACE = {
    "‘": "'", "’": "'", "‚": "'", "`": "'", "“": '"', "”": '"', "„": '"',
    "–": ", ", "—": ", ", "―": ", ", "…": "...", "\u00a0": " ", "&": " and ",
}
_CURRENCY = {"$": "dollars", "£": "pounds", "€": "euros"}
_ABBREV = [
    (r"\bmr\.", "mister"), (r"\bmrs\.", "missus"), (r"\bdr\.", "doctor"), (r"\bst\.", "saint"),
    (r"\bco\.", "company"), (r"\bjr\.", "junior"), (r"\bsr\.", "senior"), (r"\bvs\.", "versus"),
    (r"\be\.g\.", "for example"), (r"\bi\.e\.", "that is"), (r"\betc\.", "et cetera"),
]


def normalize_text(text: str, source: str | None = None) -> str:
    """Unicode NFKC, typographic quotes/dashes to ASCII, common abbreviations expanded,
    control characters dropped, whitespace collapsed. Raises TextError on empty results.

    Numbers are left to espeak-ng, which reads them in the target language.
    """
    if not isinstance(text, str):
        raise TextError(source, f"expected a string, got {type(text).__name__}")
    out = unicodedata.normalize("NFKC", text)
    for a, b in _REPLACE.items():
        out = out.replace(a, b)
    out = re.sub(r"[$£€](\d+(?:[.,]\d+)?)", lambda m: f"{m.group(1)} {_CURRENCY[m.group(0)[0]]}", out)
    out = re.sub(r"(\d)%", r"\1 percent", out)
    for pat, rep in _ABBREV:
        out = re.sub(pat, rep, out, flags=re.IGNORECASE)
    out = "".join(ch for ch in out if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    out = " ".join(out.split())
    if not out:
        raise TextError(source or _show(text), "empty text")
    if not any(ch.isalnum() for ch in out):
        raise TextError(source or _show(text), "no pronounceable characters (only punctuation/symbols)")
    return out


@functools.lru_cache(maxsize=8)
def _backend(language: str, with_stress: bool):
    try:
        from phonemizer.backend import EspeakBackend
    except ImportError as e:  # pragma: no cover - installed with the package
        raise TextError(None, f"phonemizer is not installed ({e}); pip install phonemizer") from None
    try:
        import logging

        quiet = logging.getLogger("dualtts.phonemizer")
        quiet.setLevel(logging.ERROR)  # phonemizer warns about word-count changes that punctuation causes
        return EspeakBackend(
            language, preserve_punctuation=True, punctuation_marks=PUNCTUATION,
            with_stress=with_stress, language_switch="remove-flags", logger=quiet,
        )
    except RuntimeError as e:
        msg = " ".join(str(e).split())
        if "not installed" in msg or "espeak" in msg.lower() and "language" not in msg.lower():
            raise TextError(None, f"espeak-ng is not available: {msg} (apt-get install espeak-ng)") from None
        raise TextError(None, f"language {language!r} is not supported by espeak-ng ({msg})") from None


class Phonemizer:
    """Text -> IPA phoneme strings with espeak-ng (through ``phonemizer``).

    >>> Phonemizer("en-us")("Hello, world.")  # doctest: +SKIP
    'həlˈoʊ, wˈɜːld.'
    """

    def __init__(self, language: str = "en-us", with_stress: bool = True):
        self.language = language
        self.with_stress = with_stress
        self._backend = _backend(language, with_stress)

    def __call__(self, text: str, source: str | None = None) -> str:
        return self.batch([text], sources=[source])[0]

    def batch(self, texts: Sequence[str], sources: Sequence[str | None] | None = None) -> list[str]:
        """Phonemize many texts in one espeak call. Each result is checked for content."""
        from phonemizer.separator import Separator

        sources = list(sources) if sources is not None else [None] * len(texts)
        norm = [normalize_text(t, s) for t, s in zip(texts, sources)]
        out = self._backend.phonemize(norm, separator=Separator(phone="", word=WORD_SEP), strip=True)
        result = []
        for text, src, ph in zip(norm, sources, out):
            ph = " ".join(ph.split())
            if not any(ch not in PUNCTUATION and not ch.isspace() for ch in ph):
                raise TextError(src or _show(text), f"unpronounceable in {self.language!r}: espeak-ng produced no phonemes")
            result.append(ph)
        return result


def phoneme_symbols(phonemes: str) -> list[str]:
    """Split a phoneme string into symbols: one per character, spaces become word boundaries."""
    return list(phonemes)


class SymbolTable:
    """Bidirectional map between phoneme symbols and ids. Ids 0..3 are ``<pad> <unk> <bos> <eos>``.

    ``encode`` raises TextError on symbols outside the table unless ``unknown="unk"``.
    """

    def __init__(self, symbols: Iterable[str]):
        symbols = list(symbols)
        if tuple(symbols[: len(SPECIALS)]) != SPECIALS:
            symbols = list(SPECIALS) + [s for s in symbols if s not in SPECIALS]
        if len(set(symbols)) != len(symbols):
            raise ValueError("symbol table has duplicate symbols")
        self.symbols = symbols
        self._index = {s: i for i, s in enumerate(symbols)}

    pad_id, unk_id, bos_id, eos_id = 0, 1, 2, 3

    @classmethod
    def build(cls, phoneme_strings: Iterable[str]) -> "SymbolTable":
        """Table over every symbol seen in ``phoneme_strings`` (sorted, so it is reproducible)."""
        seen: set[str] = set()
        for ph in phoneme_strings:
            seen.update(phoneme_symbols(ph))
        return cls(sorted(seen))

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, sym: str) -> bool:
        return sym in self._index

    def drop_missing_punctuation(self, phonemes: str) -> str:
        """``phonemes`` without the punctuation this table lacks (a corpus without questions has no '?')."""
        return "".join(c for c in phonemes if c not in PUNCTUATION or c in self)

    def encode(self, phonemes: str, unknown: str = "error", source: str | None = None) -> list[int]:
        ids = []
        for sym in phoneme_symbols(phonemes):
            i = self._index.get(sym)
            if i is None:
                if unknown != "unk":
                    raise TextError(source or _show(phonemes), f"unknown phoneme symbol {sym!r} (U+{ord(sym[0]):04X}) not in the symbol table")
                i = self.unk_id
            ids.append(i)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.symbols[i] for i in ids if i >= len(SPECIALS))

    def save(self, path: str | os.PathLike) -> None:
        write_text_atomic(path, json.dumps({"symbols": self.symbols}, ensure_ascii=False, indent=0))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SymbolTable":
        path = Path(path)
        if not path.is_file():
            raise TextError(str(path), "symbol table not found")
        try:
            return cls(json.loads(path.read_text(encoding="utf-8"))["symbols"])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise TextError(str(path), f"not a symbol table ({type(e).__name__}: {e})") from None


class PhonemeBPE:
    """Optional sentencepiece BPE over phoneme strings (fewer, longer tokens for the LM).

    Train with :meth:`train`, save/load the sentencepiece model bytes with :meth:`save`/:meth:`load`.
    """

    def __init__(self, model_proto: bytes):
        import sentencepiece as spm

        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)

    @classmethod
    def train(cls, phoneme_strings: Iterable[str], vocab_size: int = 256) -> "PhonemeBPE":
        import sentencepiece as spm

        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(list(phoneme_strings)), model_writer=buf, vocab_size=vocab_size,
            model_type="bpe", character_coverage=1.0, split_by_whitespace=True, normalization_rule_name="identity",
            add_dummy_prefix=True, minloglevel=2, hard_vocab_limit=False,
        )
        return cls(buf.getvalue())

    def __len__(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, phonemes: str) -> list[int]:
        return self.sp.encode(phonemes, out_type=int)

    def pieces(self, phonemes: str) -> list[str]:
        return self.sp.encode(phonemes, out_type=str)

    def decode(self, ids: Sequence[int]) -> str:
        return self.sp.decode(list(ids))

    def save(self, path: str | os.PathLike) -> None:
        from dualtts.data.atomic import atomic_path

        with atomic_path(path) as tmp:
            tmp.write_bytes(self.model_proto)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PhonemeBPE":
        path = Path(path)
        if not path.is_file():
            raise TextError(str(path), "BPE model not found")
        return cls(path.read_bytes())


def check_text(text: str, language: str = "en-us", max_chars: int = 5000, source: str = "text") -> str:
    """Text to synthesize, refused with one line when it cannot be said: longer than ``max_chars``, control
    characters, or (for an English voice) letters of another script, which espeak-ng would read out as
    "Chinese letter"."""
    import unicodedata

    if len(text) > max_chars:
        raise TextError(source, f"too long: {len(text)} characters, at most {max_chars} (split it, or use --batch)")
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t":
            raise TextError(source, f"control character U+{ord(ch):04X} at position {i}")
        if language.startswith("en") and ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN"):
            name = unicodedata.name(ch, "unknown").split(" ")[0]
            raise TextError(source, f"the {language} voice cannot say {ch!r} ({name} script) at position {i}")
    return text
