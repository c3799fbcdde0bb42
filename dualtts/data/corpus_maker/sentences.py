"""Sentence sources for the offline corpus maker: the shipped Harvard sentences and a grammar.

The grammar (our own templates and word lists, written for this project: no licence beyond the
project's) produces plain, speakable English sentences with no digits or abbreviations, so the
text frontend normalizes them unchanged. Generation is deterministic for a seed, and the
sentences are distinct.

The word sentences (``varied``) draw from the ~970 common English words and the first and last names
that the Faker package ships (MIT licence): far more words and phoneme contexts than the grammar, so a
model trained on them has to read, not recall, an unseen sentence (free word order; the speech engines
say them with plain declarative prosody).

    generated_sentences(5000, seed=0)  -> list[str]
    sentence_pool("mixed", 5000, seed=0) -> Harvard sentences + 5000 generated ones
    sentence_pool("varied", 5000, seed=0) -> Harvard + 2500 grammar + 2500 word sentences
"""
from __future__ import annotations

import random
from importlib import resources

NAMES = ("Anna", "Peter", "Maria", "Thomas", "Lucy", "George", "Helen", "Martin", "Clara", "Oliver", "Rosa", "Daniel",
         "Emma", "Frank", "Julia", "Victor", "Alice", "Samuel", "Nora", "Henry", "Laura", "Walter", "Grace", "Simon")
PEOPLE = ("farmer", "teacher", "doctor", "sailor", "painter", "baker", "child", "driver", "soldier", "student", "nurse",
          "pilot", "writer", "singer", "miner", "hunter", "neighbor", "captain", "gardener", "stranger", "old man",
          "young woman", "shopkeeper", "fisherman", "carpenter", "musician", "judge", "clerk", "waiter", "guard")
THINGS = ("basket", "letter", "lamp", "coat", "bottle", "wagon", "ribbon", "hammer", "candle", "blanket", "bucket",
          "window", "ladder", "kettle", "mirror", "pillow", "bicycle", "guitar", "compass", "painting", "engine",
          "garden", "bridge", "boat", "table", "chair", "clock", "door", "map", "rope", "stone", "book", "shovel",
          "umbrella", "jacket", "saddle", "drum", "fence", "cup", "plate", "key", "box", "bell", "sail", "net")
PLACES = ("the market", "the river", "the station", "the village", "the harbor", "the forest", "the library",
          "the kitchen", "the church", "the valley", "the castle", "the garden", "the museum", "the farm",
          "the hospital", "the bakery", "the mountain", "the island", "the school", "the factory", "the square",
          "the lake", "the beach", "the cellar", "the attic", "the meadow", "the office", "the theater", "the bank")
ADJ = ("old", "new", "heavy", "small", "bright", "quiet", "warm", "cold", "broken", "golden", "wooden", "narrow",
       "empty", "strange", "gentle", "careful", "tired", "happy", "angry", "clever", "simple", "dark", "clean",
       "dusty", "green", "red", "blue", "yellow", "long", "short", "tall", "round", "soft", "sharp", "silver",
       "famous", "ancient", "busy", "lonely", "proud", "brave", "curious", "polite", "noisy", "shiny", "fresh")
VERB_T = ("carried", "painted", "found", "lost", "opened", "closed", "cleaned", "fixed", "sold", "bought", "watched",
          "pushed", "pulled", "dropped", "lifted", "moved", "checked", "wrapped", "covered", "borrowed", "returned",
          "packed", "hid", "brought", "took", "kept", "held", "left", "needed", "wanted", "noticed", "touched")
VERB_I = ("waited", "laughed", "smiled", "listened", "walked", "rested", "worked", "traveled", "danced", "slept",
          "sang", "stayed", "shouted", "whispered", "hurried", "paused", "returned", "wandered", "played", "cried")
ADV = ("slowly", "quickly", "quietly", "carefully", "suddenly", "gladly", "softly", "loudly", "patiently", "early",
       "late", "again", "together", "alone", "happily", "calmly", "firmly", "gently", "silently", "proudly")
TIME = ("in the morning", "at noon", "after dinner", "before sunrise", "on Monday", "on Friday", "last winter",
        "every summer", "at midnight", "during the storm", "after the rain", "in the evening", "on the weekend",
        "before breakfast", "late at night", "in the spring", "last autumn", "at dawn", "after school", "that night")
PREP = ("near", "behind", "beside", "across", "inside", "under", "above", "around", "beyond", "toward")
NUM = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "twenty", "a dozen")
WEATHER = ("The wind was cold", "The sky was grey", "The sun was warm", "The rain fell hard", "The night was clear",
           "The air was still", "The fog was thick", "The snow was deep", "The road was wet", "The day was long")
FEEL = ("glad", "sorry", "sure", "surprised", "afraid", "certain", "pleased", "worried", "proud", "amazed")


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _np(r: random.Random) -> str:
    """A noun phrase: the/a (adjective) thing or person."""
    noun = r.choice(THINGS + PEOPLE)
    if r.random() < 0.6:
        noun = f"{r.choice(ADJ)} {noun}"
    return f"the {noun}" if r.random() < 0.5 else _a(noun)


def _subject(r: random.Random) -> str:
    return r.choice(NAMES) if r.random() < 0.4 else f"the {r.choice(ADJ) + ' ' if r.random() < 0.5 else ''}{r.choice(PEOPLE)}"


def _sentence(r: random.Random) -> str:
    t = r.randrange(8)
    if t == 0:
        s = f"{_subject(r)} {r.choice(VERB_T)} {_np(r)} {r.choice(PREP)} {r.choice(PLACES)}"
    elif t == 1:
        s = f"{r.choice(TIME)}, {_subject(r)} {r.choice(VERB_I)} {r.choice(ADV)} {r.choice(PREP)} {r.choice(PLACES)}"
    elif t == 2:
        s = f"{_subject(r)} {r.choice(VERB_T)} {r.choice(NUM)} {r.choice(ADJ)} {r.choice(THINGS)}s {r.choice(TIME)}"
    elif t == 3:
        s = f"{r.choice(WEATHER)}, so {_subject(r)} {r.choice(VERB_I)} {r.choice(PREP)} {r.choice(PLACES)}"
    elif t == 4:
        s = f"{_subject(r)} was {r.choice(FEEL)} that {_subject(r)} {r.choice(VERB_T)} {_np(r)}"
    elif t == 5:
        s = f"Did {_subject(r)} really {r.choice(('see', 'find', 'fix', 'sell', 'open', 'move'))} {_np(r)} {r.choice(TIME)}?"
        return s[0].upper() + s[1:]
    elif t == 6:
        s = f"{_np(r)} {r.choice(PREP)} {r.choice(PLACES)} was {r.choice(ADJ)} and {r.choice(ADJ)}"
    else:
        s = (f"{_subject(r)} {r.choice(VERB_I)} {r.choice(ADV)}, then {r.choice(VERB_T)} {_np(r)} "
             f"and {r.choice(VERB_I)} {r.choice(TIME)}")
    return s[0].upper() + s[1:] + "."


def generated_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct grammar sentences, the same list for the same seed."""
    r = random.Random(f"sentences-{seed}")
    out: list[str] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < n:
        s = _sentence(r)
        tries += 1
        if s not in seen:
            seen.add(s)
            out.append(s)
        elif tries > 50 * n:
            raise ValueError(f"the grammar ran out of distinct sentences after {len(out)}")
    return out


def word_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct sentences of 5..12 common English words (one in four with a person's name), deterministic
    for a seed. Faker's word and name lists (MIT), letters only, abbreviations left out."""
    from faker.providers.lorem.en_US import Provider as Lorem
    from faker.providers.person.en_US import Provider as Person

    words = [w for w in Lorem.word_list if w.isalpha() and w not in ("Mr", "Mrs", "PM", "TV")]
    names = [w for w in list(Person.first_names) + list(Person.last_names) if w.isalpha()]
    r = random.Random(f"word-sentences-{seed}")
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        s = r.sample(words, r.randint(5, 12))
        if r.random() < 0.25:
            s.insert(r.randrange(len(s) + 1), r.choice(names))
        text = " ".join(s)
        text = text[0].upper() + text[1:] + ("?" if r.random() < 0.1 else ".")
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def harvard_sentences() -> list[str]:
    """The public-domain Harvard sentences (IEEE 1969) shipped with the package."""
    text = resources.files("dualtts.data").joinpath("resources/harvard_sentences.txt").read_text(encoding="utf-8")
    return [s.strip() for s in text.splitlines() if s.strip()]


TEXT_SOURCES = ("harvard", "mixed", "varied")


def sentence_pool(kind: str = "harvard", generated: int = 0, seed: int = 0) -> list[str]:
    """``harvard``: the Harvard list; ``mixed``: Harvard then ``generated`` grammar sentences; ``varied``: Harvard,
    then half of ``generated`` grammar sentences and half word sentences (:func:`word_sentences`)."""
    if kind not in TEXT_SOURCES:
        raise ValueError(f"unknown text source {kind!r} (use one of {', '.join(TEXT_SOURCES)})")
    pool = harvard_sentences()
    if kind == "mixed":
        pool += generated_sentences(generated, seed)
    elif kind == "varied":
        pool += generated_sentences(generated - generated // 2, seed) + word_sentences(generated // 2, seed)
    return pool
