import pytest

from dualtts.data.text import Phonemizer, PhonemeBPE, SymbolTable, TextError, normalize_text


def test_normalize_text():
    assert normalize_text("  “Hello”  Dr.\u00a0Smith — it's $5  ") == '"Hello" doctor Smith , it\'s 5 dollars'
    assert normalize_text("A 10% tip & more") == "A 10 percent tip and more"


@pytest.mark.parametrize("bad, problem", [("", "empty text"), ("   \n\t", "empty text"), ("?!... --", "no pronounceable characters")])
def test_empty_or_symbol_only_text(bad, problem):
    with pytest.raises(TextError, match=problem) as e:
        normalize_text(bad)
    assert "\n" not in str(e.value)


def test_phonemize_keeps_punctuation_and_word_boundaries():
    ph = Phonemizer("en-us")
    out = ph("Hello, world.")
    assert out.endswith(".") and "," in out
    assert len(out.split(" ")) == 2  # two words
    assert "ˈ" in out  # stress marks
    # batch == one by one
    assert ph.batch(["Hello, world.", "Good morning!"]) == [out, ph("Good morning!")]


def test_language_is_a_parameter():
    en, fr = Phonemizer("en-us")("bonjour madame"), Phonemizer("fr-fr")("bonjour madame")
    assert en != fr


def test_unknown_language_is_a_clear_error():
    with pytest.raises(TextError, match="language 'xx-nope' is not supported") as e:
        Phonemizer("xx-nope")
    assert "\n" not in str(e.value)


def test_unpronounceable_text_names_its_source():
    with pytest.raises(TextError, match=r"^clip7\.txt: no pronounceable"):
        Phonemizer("en-us")("…!!", source="clip7.txt")


def test_symbol_table_round_trip_and_unknown_symbols(tmp_path):
    ph = Phonemizer("en-us")
    strings = ph.batch(["The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background."])
    table = SymbolTable.build(strings)
    assert table.symbols[:4] == ["<pad>", "<unk>", "<bos>", "<eos>"] and " " in table
    ids = table.encode(strings[0])
    assert min(ids) >= 4 and table.decode(ids) == strings[0]
    table.save(tmp_path / "symbols.json")
    again = SymbolTable.load(tmp_path / "symbols.json")
    assert again.symbols == table.symbols and again.encode(strings[1]) == table.encode(strings[1])
    with pytest.raises(TextError, match="unknown phoneme symbol 'Ж'"):
        table.encode("aЖ")
    assert table.encode("aЖ", unknown="unk")[-1] == table.unk_id
    with pytest.raises(TextError, match="symbol table not found"):
        SymbolTable.load(tmp_path / "missing.json")


def test_phoneme_bpe_round_trip(tmp_path):
    from dualtts.data.corpus_maker.sentences import harvard_sentences

    strings = Phonemizer("en-us").batch(harvard_sentences()[:150])
    bpe = PhonemeBPE.train(strings, vocab_size=200)
    ids = bpe.encode(strings[0])
    assert bpe.decode(ids) == strings[0]
    assert len(ids) < len(strings[0])  # pieces are longer than single symbols
    bpe.save(tmp_path / "bpe.model")
    assert PhonemeBPE.load(tmp_path / "bpe.model").encode(strings[1]) == bpe.encode(strings[1])
