"""The package's layers: imports point one way (down), and a loaded pipeline needs no training code."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"

# lowest first; a module may import only from its own layer or the layers before it
LAYERS = [
    ("base", ["pipeline.version", "pipeline.errors", "pipeline.resources", "pipeline.msgpack_cache"]),
    ("data", ["pipeline.corpus"]),
    ("nn", ["pipeline.nn"]),
    ("models", ["pipeline.models"]),
    ("spacy glue", ["pipeline.tokenizer", "pipeline.ginza", "pipeline.components", "pipeline.loading", "pipeline"]),
    ("batch", ["pipeline.batch"]),
    ("training", ["pipeline.training"]),
    ("evaluation", ["pipeline.evaluation"]),
    ("report", ["pipeline.report"]),
    ("cli", ["pipeline.cli"]),
]
TRAINING_AND_ABOVE = ("pipeline.training", "pipeline.evaluation", "pipeline.report", "pipeline.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    """The index in LAYERS of the most specific prefix that names ``module``."""
    best, best_len = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    if best is None:
        raise AssertionError(f"{module} is in no layer of tests/test_layers.py")
    return best


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``pipeline`` import in ``path``, at any depth (lazy imports count too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "pipeline"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pipeline" and not node.level:
            for alias in node.names:  # `from pipeline.x import y` where y may itself be a module
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists() or (
                    PACKAGE.parent / candidate.replace(".", "/") / "__init__.py").exists()
                found.append((node.lineno, candidate if is_module else node.module))
    return found


def import_graph() -> dict[str, list[tuple[int, str]]]:
    return {module_name(path): imported_modules(path) for path in sorted(PACKAGE.rglob("*.py"))}


def upward_imports() -> list[str]:
    problems = []
    for module, imports in import_graph().items():
        own = layer_of(module)
        for line, target in imports:
            if layer_of(target) > own:
                problems.append(f"{module}:{line} imports {target} ({LAYERS[own][0]} -> {LAYERS[layer_of(target)][0]})")
    return problems


def import_cycles() -> list[list[str]]:
    """Cycles among modules by their imports at module level and in functions (Tarjan's SCCs of size > 1)."""
    graph = {m: sorted({t for _, t in imps if t != m}) for m, imps in import_graph().items()}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, []):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_every_module_belongs_to_a_layer():
    for module in import_graph():
        layer_of(module)


def test_imports_point_down_the_layers_only():
    assert upward_imports() == []


def test_no_two_modules_import_each_other_in_a_cycle():
    # a package's __init__ importing its own submodules is not a cycle worth failing on
    cycles = [c for c in import_cycles() if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]
    assert cycles == []


def test_the_layer_check_catches_an_upward_import(tmp_path, monkeypatch):
    fake = tmp_path / "pipeline"
    (fake / "nn").mkdir(parents=True)
    (fake / "training").mkdir()
    (fake / "nn" / "__init__.py").write_text("")
    (fake / "training" / "__init__.py").write_text("")
    (fake / "training" / "loop.py").write_text("")
    (fake / "nn" / "bad.py").write_text("def f():\n    from pipeline.training.loop import x\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert upward_imports() == ["pipeline.nn.bad:2 imports pipeline.training.loop (nn -> training)"]


def test_loading_and_running_the_pipeline_imports_no_training_or_evaluation_module():
    code = (
        "import sys, json, pipeline\n"
        "nlp = pipeline.load()\n"
        "doc = nlp('京都の紅葉がきれいでした。')\n"
        "assert doc.cats\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('pipeline'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out.strip().splitlines()[-1])
    assert "pipeline.components" in loaded
    assert [m for m in loaded if m.startswith(TRAINING_AND_ABOVE)] == []
    assert "tqdm" not in out


if __name__ == "__main__":  # python tests/test_layers.py: the table and any upward import
    for name, prefixes in LAYERS:
        print(f"{name:12s} {', '.join(prefixes)}")
    problems = upward_imports()
    print(f"{sum(len(v) for v in import_graph().values())} imports in {len(import_graph())} modules; "
          f"{len(problems)} upward, {len(import_cycles())} cycles")
    print("\n".join(problems))


def test_every_error_class_lives_in_errors_py():
    outside = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and (node.name.endswith(("Error", "Exception")) or any(
                    getattr(base, "id", getattr(base, "attr", "")).endswith(("Error", "Exception")) for base in node.bases)):
                outside.append(f"{module_name(path)}.{node.name}")
    assert outside == []
