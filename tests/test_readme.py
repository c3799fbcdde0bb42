"""The README's Python and shell examples run as written (in a temporary folder)."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_python_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks("python")
    assert len(blocks) >= 3
    scope: dict = {}
    for code in blocks:  # later blocks use names from earlier ones, as a reader would
        exec(compile(code, str(README), "exec"), scope)
    assert (tmp_path / "exp/demo/copy.flac").is_file()


def test_cli_examples_run(tmp_path):
    blocks = _blocks("sh")
    assert blocks
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "HF_HUB_OFFLINE": "1"}
    for line in (l for b in blocks for l in b.splitlines() if l.strip() and not l.startswith("#")):
        r = subprocess.run(shlex.split(line), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{line}\n{r.stdout}\n{r.stderr}"
    assert (tmp_path / "exp/cli/eval.json").is_file()


def test_readme_commands_exist():
    text = README.read_text(encoding="utf-8")
    for script in re.findall(r"bash ((?:recipes|scripts)/\S+\.sh)", text):
        assert (README.parent / script).is_file(), script
    assert (README.parent / ".ci/run").read_text().strip().endswith("bash recipes/test.sh")
