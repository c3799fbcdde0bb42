"""The README's Python and shell examples run as written (in a temporary folder), and it stays a short front page.

The block machinery (which fences run, which must say "not run", the generated figures) is shared with the docs/
pages: tests/test_docs.py.
"""
import re

from test_docs import README, fenced, run_python_blocks, run_sh_blocks

MAX_LINES = 250


def test_python_examples_run(tmp_path):
    n = sum(1 for tag, _ in fenced(README) if tag == "python")
    assert n >= 1
    assert run_python_blocks(README, tmp_path) == n
    assert (tmp_path / "hello.wav").is_file()


def test_cli_examples_run(tmp_path):
    n = sum(1 for tag, _ in fenced(README) if tag == "sh")
    assert n >= 1
    assert run_sh_blocks(README, tmp_path) == n
    assert (tmp_path / "exp/cli/hello.wav").is_file()


def test_readme_commands_exist():
    text = README.read_text(encoding="utf-8")
    for script in re.findall(r"bash ((?:recipes|scripts)/\S+\.sh)", text):
        assert (README.parent / script).is_file(), script
    assert "bash recipes/hello.sh" in text and "bash recipes/test.sh" in text
    assert (README.parent / ".ci/run").read_text().strip().endswith("bash recipes/test.sh")


def test_readme_is_a_short_front_page():
    text = README.read_text(encoding="utf-8")
    n = len(text.splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines (at most {MAX_LINES}): move detail to docs/"
    assert "<!-- gen:model-card -->" in text  # the default model's card, figures generated from recipes/mini/results.json
    for page in sorted((README.parent / "docs").glob("*.md")):
        assert f"docs/{page.name}" in text, f"README.md does not link docs/{page.name}"


def test_readme_python_example_is_short():
    blocks = [code for tag, code in fenced(README) if tag == "python"]
    assert len(blocks[0].strip().splitlines()) <= 12, "the README's first example should stay about 10 lines"


def test_model_search_order_matches_model_path():
    """The README's list of where the default model is found follows dualtts/model_path.py's docstring."""
    import dualtts.model_path as mp

    text = README.read_text(encoding="utf-8")
    order = ["DUALTTS_MODEL", "dualtts-mini", "DUALTTS_CACHE", "recipes/mini/checkpoints/dualtts-mini"]
    section = text[text.index("Where the default model is found"):]
    pos = [section.index(x) for x in order]
    assert pos == sorted(pos)
    assert [w for w, _ in mp.candidates()] == ["DUALTTS_MODEL", "the dualtts-mini package", "the cache folder", "the checkout"]
