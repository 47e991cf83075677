"""The package layout: no import cycles, command modules reached by the CLI only, a torch-free driver."""

from __future__ import annotations

import ast
import subprocess
import sys

from conftest import REPO_ROOT

from hscnet.cli import STAGE_COMMANDS

PACKAGES = ("hscnet", "extractors")
# The stages at the package root, run only through the root's command module.
STAGE_MODULES = ("hscnet.train", "hscnet.evaluate")


def module_name(path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """{module: project modules it imports}, counting imports inside functions too (a lazy import is still
    an import), and a module's parent packages (importing a.b.c runs a/__init__ and a/b/__init__)."""
    modules = {module_name(p): p for package in PACKAGES for p in (REPO_ROOT / package).rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        tree = ast.parse(path.read_text(), str(path))
        if path.name == "__init__.py":
            # A package's lazy re-exports (PEP 562 ``__getattr__``) hand names on to users; the package's own
            # modules never go through them, so they are no edge (hscnet.Grounder would close every loop).
            tree.body = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name == "__getattr__")]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets.add(node.module)
                # `from pkg import mod` imports the submodule pkg.mod
                targets.update(f"{node.module}.{alias.name}" for alias in node.names)
        edges = set()
        for target in targets:
            parts = target.split(".")
            edges.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))
        graph[name] = {m for m in edges if m in modules and m != name and not name.startswith(m + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert len(graph) > 30, "the module scan found too few modules"
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_command_modules_are_imported_by_nobody():
    """The CLI reaches each package's ``command.py`` by name (``hscnet.cli.STAGE_COMMANDS``); no module imports
    one, so stages share machinery through modules of their own (checkpoint, inference), never through each
    other."""
    graph = import_graph()
    commands = set(STAGE_COMMANDS.values())
    for module, imports in graph.items():
        assert not imports & commands, f"{module} imports command module(s) {imports & commands}"


def test_root_stages_are_imported_by_their_command_module_only():
    graph = import_graph()
    for module, imports in graph.items():
        if module != "hscnet.command":
            assert not imports & set(STAGE_MODULES), f"{module} imports stage module(s) {imports & set(STAGE_MODULES)}"


def test_each_package_registers_its_commands_in_its_command_module():
    """One way to add a subcommand: ``<package>/command.py`` with ``register(subparsers)``."""
    assert all(name.rsplit(".", 1)[-1] == "command" for name in STAGE_COMMANDS.values()), STAGE_COMMANDS


def test_only_command_modules_parse_arguments():
    """Logic modules hold no argparse code: only ``command.py`` files (and the ``hscnet`` parser itself) import
    argparse."""
    parsers = []
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if path.name == "command.py" or module_name(path) == "hscnet.cli":
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if "argparse" in names or (isinstance(node, ast.ImportFrom) and node.module == "argparse"):
                    parsers.append(path.relative_to(REPO_ROOT).as_posix())
    assert not parsers, f"argparse outside a command.py: {parsers}"


def test_report_does_not_import_grounding():
    """Both draw with ``hscnet.plotting``; the report reaches no grounding code."""
    graph = import_graph()
    for module, imports in graph.items():
        if module.startswith("hscnet.report"):
            assert not any(m.startswith("hscnet.ground") for m in imports), f"{module} imports grounding code"


def test_real_data_readers_do_not_depend_on_the_demo():
    graph = import_graph()
    for module, imports in graph.items():
        if module.startswith("hscnet.data"):
            assert not any(m.startswith("hscnet.demo") for m in imports), f"{module} imports the demo generator"


def test_snakemake_driver_does_not_import_torch(tmp_path):
    """Planning a run (what a cluster's login node does) needs snakemake and the light parts of the package."""
    result = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "snakemake",
            "-n",
            "--quiet",
            "--directory",
            str(REPO_ROOT),
            "results/demo/report/tables.md",
            "--snakefile",
            str(REPO_ROOT / "Snakefile"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "hscnet.ablations" in imported and "extractors.videos" in imported, "the Snakefile's imports were not seen"
    heavy = sorted(
        m for m in imported if m.split(".")[0] in ("torch", "torchvision", "h5py", "spacy", "gensim", "decord", "av")
    )
    assert not heavy, f"loading the workflow imported {heavy[:10]}"


def test_import_hscnet_stays_light_and_hands_on_the_grounder():
    """``import hscnet`` (every command, the workflow's planning) loads no torch; ``hscnet.Grounder`` loads it."""
    code = (
        "import sys, hscnet; assert 'torch' not in sys.modules, 'import hscnet loaded torch'; "
        "from hscnet import Grounder; from hscnet.ground.grounder import Grounder as G; assert Grounder is G; "
        "assert 'torch' in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]


MAX_FUNCTION_LINES = 60


def long_functions(source: str, path: str = "<source>") -> list[str]:
    """``path:line name (N lines)`` of every function or method longer than MAX_FUNCTION_LINES, counted from its
    ``def`` line to its last line (decorators not counted, docstring and comments counted)."""
    found = []
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found.append(f"{path}:{node.lineno} {node.name} ({lines} lines)")
    return found


def test_no_function_is_longer_than_60_lines():
    """Short functions, held by a test as ruff holds their complexity (pyproject.toml: C90, PLR0912/0913/0915)."""
    found = [
        f
        for package in PACKAGES
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
        for f in long_functions(path.read_text(), path.relative_to(REPO_ROOT).as_posix())
    ]
    assert not found, f"functions longer than {MAX_FUNCTION_LINES} lines: {found}"


def test_function_length_counts_from_def_to_last_line():
    def statements(count: int, indent: str) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(count))

    assert long_functions(f"@decorator\ndef f():\n{statements(59, '    ')}") == []  # 60 lines with its def
    method = f"class C:\n    def m(self):\n{statements(60, '        ')}"
    assert long_functions(method) == ["<source>:2 m (61 lines)"]
