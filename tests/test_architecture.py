"""The house rules, checked on the source: rooms and the arrows between them, no import circle,
a pure core, small modules (see docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "netlab"

# Rooms, lowest first: a module may import its own room and the rooms before it, never one
# after it. (The architecture document draws the same list.)
ROOMS: list[tuple[str, ...]] = [
    ("netlab.core",),
    (
        "netlab._version",
        "netlab.errors",
        "netlab.config",
        "netlab.data",
        "netlab.lifecycle",
    ),
    ("netlab.packets",),
    ("netlab.sources",),
    (
        "netlab.export",
        "netlab.follow",
        "netlab.dissect",
        "netlab.display_filter",
        "netlab.inner_packets",
    ),
    ("netlab.archive",),
    ("netlab.capture",),
    ("netlab.ai",),
    ("netlab.server",),
    ("netlab.widgets",),
    ("netlab.dashboard",),
    ("netlab.doctor", "netlab.cli", "netlab.__main__", "netlab"),
]

# What the pure core never imports: threads, sockets, files mapped or awaited (static check),
# and the I/O and UI libraries (also checked by importing it: nothing may pull them in).
CORE_BANNED_STDLIB = ("threading", "socket", "select", "mmap", "asyncio", "subprocess")
# Three imports that bring no I/O, each for one name:
CORE_ALLOWED = {
    ("netlab.core.frame", "threading"),  # a Lock: the frame is shared, it starts no thread
    ("netlab.core.decode", "socket"),  # inet_ntop, the IPv6 text tshark shows; no socket
    ("netlab.core.community_id", "socket"),  # inet_pton, an address's bytes; no socket
    ("netlab.core.pcapfile.records", "mmap"),  # a type name: a walk reads a mapped file
}
CORE_BANNED_LIBRARIES = (
    "openai",
    "ipywidgets",
    "bqplot",
    "fastapi",
    "starlette",
    "uvicorn",
    "websockets",
    "httpx",
    "pydantic",
    "scapy",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every netlab module `path` imports, at the top or inside a function."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("netlab"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("netlab"):
                continue
            found.add(target)
            for alias in node.names:  # `from . import names` imports a module
                if (PACKAGE.parent / (target + "." + alias.name).replace(".", "/")).exists() or (
                    PACKAGE.parent / ((target + "." + alias.name).replace(".", "/") + ".py")
                ).exists():
                    found.add(target + "." + alias.name)
    found.discard(name)
    return found


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _room(module: str) -> int:
    best, rank = -1, -1
    for k, room in enumerate(ROOMS):
        for prefix in room:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), k
    assert rank >= 0, f"{module} is in no room: add it to ROOMS and docs/architecture.md"
    return rank


def _is_package_init(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def test_every_module_is_in_a_room():
    for module in MODULES:
        _room(module)


def test_no_import_points_up_to_a_higher_room():
    upward = [
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if target in MODULES and _room(target) > _room(module)
    ]
    assert not upward, "imports from a lower room to a higher one:\n" + "\n".join(upward)


def test_no_import_circle():
    # A package's __init__ re-exporting its own modules is not a circle of ideas: leave out the
    # edges from a module to the __init__ of a package that contains it.
    def edges(module: str) -> set[str]:
        return {
            t
            for t in GRAPH[module]
            if t in MODULES and not (_is_package_init(t) and module.startswith(t + "."))
        }

    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges(node)):
            if state.get(nxt) == 1:
                circles.append(path[path.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module)
    assert not circles, "import circles:\n" + "\n".join(" -> ".join(c) for c in circles)


def test_core_imports_nothing_of_ours_outside_core():
    outside = [
        f"{m} -> {t}"
        for m, targets in GRAPH.items()
        if m.startswith("netlab.core")
        for t in targets
        if not t.startswith("netlab.core")
    ]
    assert not outside, "\n".join(outside)


def test_core_never_imports_threads_sockets_or_io_libraries():
    banned = CORE_BANNED_STDLIB + CORE_BANNED_LIBRARIES
    found = []
    for module, path in MODULES.items():
        if not module.startswith("netlab.core"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            found += [
                f"{module}: {n}"
                for n in names
                if n.split(".")[0] in banned and (module, n) not in CORE_ALLOWED
            ]
    assert not found, "\n".join(found)


def test_importing_every_core_module_loads_no_io_library():
    # netlab/__init__ (the whole library) is left out: only what the core modules pull in counts
    core = sorted(m for m in MODULES if m.startswith("netlab.core"))
    code = (
        "import sys, types\n"
        f"pkg = types.ModuleType('netlab'); pkg.__path__ = [{str(PACKAGE)!r}]\n"
        "sys.modules['netlab'] = pkg\n"
        + "".join(f"import {m}\n" for m in core)
        + f"bad = [m for m in {CORE_BANNED_LIBRARIES!r} if m in sys.modules]\n"
        "print(bad)\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"netlab.core loaded {result.stdout.strip()}{result.stderr}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_400_lines(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= 400, f"{module} has {lines} lines: split it by idea"
