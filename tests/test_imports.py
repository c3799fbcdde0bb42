"""The house rules of imports: inference loads no training code, no import cycles, dependencies point one way."""
import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the intended direction: a package may import only from its own layer's package or lower layers
# Everything installs under one name, ``dualtts``: its sub-packages are the layers, and the modules directly under
# ``dualtts`` (Synthesizer, the CLI, evaluation) are the public-face layer.
SUBPACKAGES = ("data", "training", "codec", "lm", "flow", "demo")
LAYERS = {"data": 0, "training": 1, "codec": 2, "lm": 3, "flow": 3, "dualtts": 4, "demo": 5, "recipes": 5}
# the one allowed upward edge: the CLI's `dualtts demo` launches the web app (a lazy import inside the command)
ENTRY_POINTS = {("dualtts.commands.demo", "dualtts.demo.app")}


def _layer(mod: str) -> str:
    """'dualtts.codec.model' -> 'codec'; 'dualtts.synthesizer' -> 'dualtts'; 'recipes.mini.x' -> 'recipes'."""
    parts = mod.split(".")
    if parts[0] == "dualtts" and len(parts) > 1 and parts[1] in SUBPACKAGES:
        return parts[1]
    return parts[0]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    """module -> project modules it imports (anywhere in the file, lazy imports included)."""
    files = {_module_name(p): p for pkg in ("dualtts", "recipes") for p in (ROOT / pkg).rglob("*.py") if ".venv" not in p.parts}
    graph = defaultdict(set)
    for mod, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                if n in files and n != mod:
                    graph[mod].add(n)
    return graph


def test_dependencies_point_one_way_and_lm_flow_stay_apart():
    bad = []
    for mod, deps in _graph().items():
        a = _layer(mod)
        for d in deps:
            b = _layer(d)
            if (mod, d) in ENTRY_POINTS:
                continue
            if LAYERS[b] > LAYERS[a] or (a != b and {a, b} == {"lm", "flow"}):
                bad.append(f"{mod} -> {d}")
    assert not bad, "imports against data -> training -> codec -> lm, flow -> dualtts -> demo/recipes: " + ", ".join(sorted(bad))


def test_no_import_cycles():
    graph = _graph()
    state, cycles = {}, []

    def visit(m, stack):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if d.startswith(m + ".") or m.startswith(d + "."):
                continue  # a package and its own submodules
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif not state.get(d):
                visit(d, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if not state.get(m):
            visit(m, [])
    assert not cycles, "import cycles: " + "; ".join(cycles)


def test_inference_imports_no_training_code(tmp_path):
    """`from dualtts import Synthesizer` and `from dualtts.codec import DualCodec`, even loading models, leave the
    training loop and every training task unimported, and nothing of ours imports accelerate (transformers'
    own model code, ``transformers/integrations/accelerate.py``, imports it when it is installed)."""
    code = (
        "import sys\n"
        "from dualtts import Synthesizer\n"
        "from dualtts.codec import DualCodec\n"
        "tts = Synthesizer.from_pretrained()\n"
        "bad = [m for m in ('training', 'training.loop', 'training.config', 'codec.train', 'lm.train', 'flow.train',\n"
        "                   'flow.nar_train', 'lm.reader_train') if 'dualtts.' + m in sys.modules]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def test_loading_runs_no_code_from_checkpoints_or_configs(tmp_path, tiny_codec):
    """A pickle where the weights should be and a YAML ``!!python`` tag in a config are refused with one line,
    and nothing in them runs."""
    import pickle
    import shutil

    import pytest

    from dualtts.codec.model import DualCodec
    from dualtts.data.checkpoint import read_config

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = tmp_path / "pickled"
    shutil.copytree(tiny_codec, bad)
    (bad / "model.safetensors").write_bytes(pickle.dumps({"w": Payload()}))
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        DualCodec.from_pretrained(bad)
    tagged = tmp_path / "tagged"
    shutil.copytree(tiny_codec, tagged)
    (tagged / "config.yaml").write_text(f"hop_length: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
    with pytest.raises(ValueError, match="not a valid config"):
        DualCodec.from_pretrained(tagged)
    with pytest.raises(ValueError, match="not a valid config"):
        read_config(tagged / "config.yaml")
    assert not marker.exists()
