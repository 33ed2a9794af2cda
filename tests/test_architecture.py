"""The house rules of the code base, read from the source: which layer may import which, no import cycles, and an
engine that knows no method. Function-level (lazy) imports count like module-level ones: deferring an import
hides a dependency, it does not remove it."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("jepa", "evals", "envs")

# everything above the model/data core: training, recipes, configuration, commands and the tools on top
APPLICATION = (
    "jepa.train",
    "jepa.recipes",
    "jepa.config",
    "jepa.commands",
    "jepa.bench",
    "jepa.agents",
    "jepa.cli",
)
CORE = ("jepa.models", "jepa.masks", "jepa.losses", "jepa.data", "jepa.planning")
LOADERS = ("jepa.data.images", "jepa.data.video", "jepa.data.audio", "jepa.data.trajectories", "jepa.data.loader")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the project module it depends on
    where: str  # path:line of the import statement

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _deepest_module(name: str, modules: set[str]) -> str | None:
    """``a.b.c`` -> the longest prefix that is a project module (``a.b`` if ``c`` is a name in it)."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in modules:
            return ".".join(parts[:n])
    return None


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: set[str]) -> list[str]:
    if isinstance(node, ast.Import):
        return [t for alias in node.names if (t := _deepest_module(alias.name, modules))]
    if node.level:  # relative: level 1 is the module's own package
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    found = []
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        target = submodule if submodule in modules else _deepest_module(base, modules)
        if target:
            found.append(target)
    return found


def build_graph(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, list[Import]]:
    """Every project module under ``root/<package>`` -> its imports of other project modules (all of them, at any
    depth of the file: module level, in functions, under ``if``)."""
    files = {_module_name(path, root): path for package in packages for path in sorted((root / package).rglob("*.py"))}
    modules = set(files)
    graph: dict[str, list[Import]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges = graph.setdefault(module, [])
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, module, path.name == "__init__.py", modules):
                    if target != module:
                        edges.append(Import(module, target, f"{path.relative_to(root)}:{node.lineno}"))
    return graph


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def forbidden_imports(
    graph: dict[str, list[Import]], sources: tuple[str, ...], forbidden: tuple[str, ...]
) -> list[Import]:
    """The imports by a module under ``sources`` of a module under ``forbidden``."""
    return [i for m, edges in graph.items() if _within(m, sources) for i in edges if _within(i.target, forbidden)]


def import_cycles(graph: dict[str, list[Import]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected group of modules that import each other (Tarjan)."""
    succ = {m: sorted({i.target for i in edges if i.target in graph}) for m, edges in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # recursion depth <= number of modules
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(succ):
        if v not in index:
            visit(v)
    return [_a_cycle_in(group, succ) for group in groups]


def _a_cycle_in(group: set[str], succ: dict[str, list[str]]) -> list[str]:
    """A shortest cycle through the group's first module (breadth-first back to it)."""
    start = min(group)
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for v in frontier:
            for w in succ[v]:
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if w in group and w not in parent:
                    parent[w] = v
                    following.append(w)
        frontier = following
    raise AssertionError(f"{sorted(group)} is not strongly connected")


def _cycle_report(graph: dict[str, list[Import]], cycle: list[str]) -> str:
    steps = [next(i for i in graph[a] if i.target == b) for a, b in zip(cycle, cycle[1:])]
    return " -> ".join(cycle) + "".join(f"\n    {i}" for i in steps)


def _report(violations: list[Import]) -> str:
    return "\n".join(map(str, violations))


@pytest.fixture(scope="module")
def graph() -> dict[str, list[Import]]:
    return build_graph()


# ---- the rules ---------------------------------------------------------------------------------------------------
def test_no_module_imports_itself_back_through_a_cycle(graph):
    cycles = import_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(_cycle_report(graph, c) for c in cycles)


def test_common_imports_nothing_else_of_the_project(graph):
    others = tuple(m for m in graph if not _within(m, ("jepa.common",)) and m != "jepa")  # the root holds them all
    violations = forbidden_imports(graph, ("jepa.common",), others)
    assert not violations, _report(violations)


def test_core_layers_import_nothing_above_them(graph):
    violations = forbidden_imports(graph, CORE, (*APPLICATION, "evals", "envs"))
    assert not violations, _report(violations)


def test_methods_import_no_training_configuration_application_evals_or_envs(graph):
    violations = forbidden_imports(graph, ("jepa.methods",), (*APPLICATION, "evals", "envs"))
    assert not violations, _report(violations)


def test_evals_import_no_training_configuration_or_application(graph):
    violations = forbidden_imports(graph, ("evals",), APPLICATION)
    assert not violations, _report(violations)


def test_train_imports_no_recipe_command_or_tool_on_top_of_it(graph):
    above = ("jepa.recipes", "jepa.commands", "jepa.bench", "jepa.agents", "jepa.cli")
    violations = forbidden_imports(graph, ("jepa.train",), above)
    assert not violations, _report(violations)


def test_data_generators_import_no_loader(graph):
    violations = forbidden_imports(graph, ("jepa.data.generate",), LOADERS)
    assert not violations, _report(violations)


def loose_modules(root: Path = ROOT) -> list[str]:
    """Modules at the root of ``jepa/`` besides the package's ``__init__`` and the command line."""
    return sorted(p.name for p in (root / "jepa").glob("*.py") if p.name not in ("__init__.py", "cli.py"))


def engine_names(root: Path = ROOT) -> list[str]:
    """The method classes and batch keys the engine's source spells out (it must spell out none)."""
    source = (root / "jepa" / "train" / "engine.py").read_text(encoding="utf-8")
    keys = [q + key + q for key in ("x", "masks_ctx", "masks_tgt", "obs", "actions") for q in "\"'"]
    return [name for name in ["MaskedJEPA", "WorldModel", *keys] if name in source]


def test_jepa_root_holds_only_the_package_init_and_the_cli():
    loose = loose_modules()
    assert not loose, f"modules at the root of jepa/: {loose}; move each into its layer"


def test_engine_names_no_method_and_no_batch_key():
    named = engine_names()
    assert not named, f"jepa/train/engine.py names {named}; the method owns its classes and batch keys"


# ---- the scan itself: it must see what the rules are about --------------------------------------------------------
PLANTED = {
    "jepa/__init__.py": "",
    "jepa/common/__init__.py": "",
    "jepa/common/errors.py": "def f():\n    from jepa.train import engine\n",  # lazy, absolute, a submodule
    "jepa/train/__init__.py": "from .engine import Trainer\n",  # relative, a name in a module
    "jepa/train/engine.py": "import jepa.recipes.parts.Something\n\nKEY = 'obs'\n",  # dotted, deeper than a module
    "jepa/recipes/__init__.py": "",
    "jepa/recipes/parts.py": "from ..train import engine\n",  # two levels up, then a submodule: a cycle
    "jepa/models/__init__.py": "if True:\n    from jepa.config import schema\n",  # under an if
    "jepa/config/__init__.py": "",
    "jepa/config/schema.py": "import os\nimport torch.nn\n",  # not the project's
    "jepa/data/__init__.py": "from . import images\n",
    "jepa/data/images.py": "",
    "jepa/data/generate/__init__.py": "from .. import images, generate\n",  # a loader; and its own package
    "jepa/methods/__init__.py": "class C:\n    def m(self):\n        import envs\n",
    "envs/__init__.py": "",
    "evals/__init__.py": "from jepa.cli import main\n",
    "jepa/cli.py": "",
    "jepa/plots.py": "",
}


@pytest.fixture
def planted(tmp_path):
    for name, text in PLANTED.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return build_graph(tmp_path)


def test_the_scan_resolves_every_kind_of_import(planted):
    assert "jepa.plots" in planted and "jepa.data.generate" in planted and "jepa.cli" in planted
    edges = {(i.source, i.target) for edges in planted.values() for i in edges}
    assert edges == {
        ("jepa.common.errors", "jepa.train.engine"),
        ("jepa.train", "jepa.train.engine"),
        ("jepa.train.engine", "jepa.recipes.parts"),
        ("jepa.recipes.parts", "jepa.train.engine"),
        ("jepa.models", "jepa.config.schema"),
        ("jepa.data", "jepa.data.images"),
        ("jepa.data.generate", "jepa.data.images"),
        ("jepa.methods", "envs"),
        ("evals", "jepa.cli"),
    }


def test_the_rules_catch_planted_violations(planted):
    assert import_cycles(planted) == [["jepa.recipes.parts", "jepa.train.engine", "jepa.recipes.parts"]]
    assert "jepa/recipes/parts.py:1" in _cycle_report(planted, import_cycles(planted)[0])
    others = tuple(m for m in planted if not _within(m, ("jepa.common",)))

    def caught(sources, forbidden):
        return [(i.source, i.target) for i in forbidden_imports(planted, sources, forbidden)]

    assert caught(("jepa.common",), others) == [("jepa.common.errors", "jepa.train.engine")]
    assert caught(CORE, (*APPLICATION, "evals", "envs")) == [("jepa.models", "jepa.config.schema")]
    assert caught(("jepa.methods",), (*APPLICATION, "evals", "envs")) == [("jepa.methods", "envs")]
    assert caught(("evals",), APPLICATION) == [("evals", "jepa.cli")]
    assert caught(("jepa.train",), ("jepa.recipes",)) == [("jepa.train.engine", "jepa.recipes.parts")]
    assert caught(("jepa.data.generate",), LOADERS) == [("jepa.data.generate", "jepa.data.images")]


def test_the_file_rules_catch_planted_violations(tmp_path, planted):
    assert loose_modules(tmp_path) == ["plots.py"]
    assert engine_names(tmp_path) == ["'obs'"]


def test_configuration_imports_no_method_model_data_eval_or_env_to_validate(graph):
    """Each method's checks come with its recipe and each command's with the command: the config layer checks
    what it declares and knows no method, model, dataset, probe or environment."""
    lower = ("jepa.methods", "jepa.models", "jepa.data", "evals", "envs")
    violations = forbidden_imports(graph, ("jepa.config",), lower)
    assert not violations, _report(violations)
