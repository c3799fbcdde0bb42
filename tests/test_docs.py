"""The pages of docs/ (and, through tests/test_readme.py, the README) keep their promises:

- every ```python block runs, in order, in one scope per page, in an empty folder (later blocks use names of earlier
  ones, as a reader would); every ```sh block runs line by line there, each line a command that must succeed;
- every other fenced block is marked as not run (``# not run: <why>`` on its first line) or is plain output (```text);
- the generated figures are what ``python scripts/gen_docs.py`` writes now from the committed result files;
- relative links point at files that exist.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
RUN = ("python", "sh")  # fence tags that the tests run
NOT_RUN = re.compile(r"\s*#\s*not run: \S")  # the first line of a block that does not run: "# not run: <why>"
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)


def fenced(path: Path) -> list[tuple[str, str]]:
    """(tag, code) of every fenced block of a markdown file, in order."""
    return [(m.group(1).strip(), m.group(2)) for m in FENCE.finditer(path.read_text(encoding="utf-8"))]


def run_python_blocks(path: Path, folder: Path) -> int:
    """Execute the ```python blocks of ``path`` in order, in one scope, with ``folder`` as the working folder
    -> how many ran (the caller compares it with how many there are)."""
    scope: dict = {"__name__": "__docs__"}
    ran = 0
    old = os.getcwd()
    os.chdir(folder)
    try:
        for i, (tag, code) in enumerate(b for b in fenced(path) if b[0] == "python"):
            exec(compile(code, f"{path.name} python block {i + 1}", "exec"), scope)
            ran += 1
    finally:
        os.chdir(old)
    return ran


def run_sh_blocks(path: Path, folder: Path) -> int:
    """Run every command line of the ```sh blocks of ``path`` in ``folder`` (the venv's bin first on PATH, offline)
    -> how many blocks ran."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    ran = 0
    for tag, code in fenced(path):
        if tag != "sh":
            continue
        for line in (x for x in code.splitlines() if x.strip() and not x.lstrip().startswith("#")):
            # (the timeout is a guard against a hang on a loaded machine, not a speed test)
            r = subprocess.run(shlex.split(line), cwd=folder, env=env, capture_output=True, text=True, timeout=1800)
            assert r.returncode == 0, f"{path.name}: {line}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        ran += 1
    return ran


def unmarked(path: Path) -> list[str]:
    """Blocks that neither run nor say why not (``text`` blocks are plain output and need no mark)."""
    bad = []
    for tag, code in fenced(path):
        if tag in RUN or tag == "text":
            continue
        first = code.splitlines()[0] if code.strip() else ""
        if not NOT_RUN.match(first):
            bad.append(f"{path.name}: ```{tag or '(no tag)'} block starting {first[:60]!r} is neither run nor marked "
                       "'# not run: <why>' on its first line")
    return bad


def test_every_block_runs_or_says_why_not():
    bad = [x for p in [README, *DOCS] for x in unmarked(p)]
    assert not bad, "\n".join(bad)


def test_fences_are_balanced():
    for p in [README, *DOCS]:
        assert p.read_text(encoding="utf-8").count("\n```") % 2 == 0, f"{p.name}: an unclosed code fence"


def _with(tag: str) -> list[Path]:
    return [p for p in DOCS if any(t == tag for t, _ in fenced(p))]


# what the examples of a page leave behind (checked after they ran)
OUTPUTS = {"api.md": ["exp/demo/copy.flac", "exp/demo/codec/model.safetensors"],
           "cli.md": ["exp/cli/eval.json", "exp/cli/hello.wav", "exp/cli/decoded.wav"]}


@pytest.mark.parametrize("page", _with("python"), ids=lambda p: p.name)
def test_python_blocks_run(page, tmp_path):
    n = sum(1 for t, _ in fenced(page) if t == "python")
    assert run_python_blocks(page, tmp_path) == n
    for out in OUTPUTS.get(page.name, []):
        if not out.startswith("exp/cli/"):
            assert (tmp_path / out).is_file(), out


@pytest.mark.parametrize("page", _with("sh"), ids=lambda p: p.name)
def test_sh_blocks_run(page, tmp_path):
    n = sum(1 for t, _ in fenced(page) if t == "sh")
    assert run_sh_blocks(page, tmp_path) == n
    for out in OUTPUTS.get(page.name, []):
        if out.startswith("exp/cli/"):
            assert (tmp_path / out).is_file(), out


def test_generated_figures_are_current():
    """Every <!-- gen:NAME --> section equals what scripts/gen_docs.py writes now from the committed JSON files."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "figures out of date; run python scripts/gen_docs.py\n" + r.stdout[-5000:] + r.stderr[-2000:]


def test_every_generator_is_used_and_every_section_known():
    gen_docs = _gen_docs()
    text = "".join(p.read_text(encoding="utf-8") for p in [README, *DOCS])
    used = set(re.findall(r"<!-- gen:([a-z0-9-]+) -->", text))
    assert used == set(gen_docs.SECTIONS), (f"unused generators: {set(gen_docs.SECTIONS) - used}; "
                                            f"unknown sections: {used - set(gen_docs.SECTIONS)}")


def _gen_docs():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import gen_docs
    finally:
        sys.path.pop(0)
    return gen_docs


def test_missing_figures_read_not_measured_yet(monkeypatch):
    """A key results.json lacks (natural_* / real_prompt_* before they are measured) shows as "not measured yet";
    once present, its value shows."""
    gen_docs = _gen_docs()
    real = gen_docs.load

    def without(rel):
        d = dict(real(rel))
        for k in ("natural_wer", "real_prompt_wer", "real_prompt_sim"):
            d.pop(k, None)
        return d

    monkeypatch.setattr(gen_docs, "load", without)
    assert "not measured yet" in gen_docs.model_card()
    monkeypatch.setattr(gen_docs, "load", lambda rel: {**without(rel), "natural_wer": 0.8125, "real_prompt_wer": 0.9})
    card = gen_docs.model_card()
    assert "0.812" in card and "0.900" in card


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (but - and _), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {_slug(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def test_relative_links_and_anchors_resolve():
    bad = []
    for p in [README, *DOCS]:
        for target in re.findall(r"\]\(([^)\s]+)\)", p.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = (p.parent / path) if path else p
            if not dest.exists():
                bad.append(f"{p.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                bad.append(f"{p.name}: {target} (no such heading)")
    assert not bad, "broken links: " + ", ".join(bad)


def _subcommands() -> dict:
    """command name -> its argparse parser, from the CLI itself."""
    import argparse

    from dualtts.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_cli_docs_name_every_command_and_only_real_options():
    """docs/cli.md and the README's table follow `dualtts COMMAND --help`: every command is there, and every option
    a row names exists (options added later show in --help; a renamed or removed one fails here)."""
    commands = _subcommands()
    bad = []
    for page in (ROOT / "docs" / "cli.md", README):
        text = page.read_text(encoding="utf-8")
        for name in commands:
            if not re.search(rf"`dualtts {re.escape(name)}\b", text) and f"`{name}`" not in text:
                bad.append(f"{page.name}: no dualtts {name}")
        for row in (x for x in text.splitlines() if x.startswith("| `dualtts ")):
            cell = row.split(" | ")[0]
            for name in re.findall(r"`dualtts ([a-z-]+)", cell):
                known = {o for a in commands[name]._actions for o in a.option_strings} if name in commands else None
                if known is None:
                    bad.append(f"{page.name}: dualtts {name} is no command")
                    continue
                for opt in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", cell):
                    if opt not in known and not any(opt in {o for a in c._actions for o in a.option_strings}
                                                    for c in commands.values() if f"dualtts {c.prog.split()[-1]}" in cell):
                        bad.append(f"{page.name}: dualtts {name} has no {opt}")
    assert not bad, "; ".join(sorted(set(bad)))
