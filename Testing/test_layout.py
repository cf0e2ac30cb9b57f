"""The code-shape rules of issue 15, checked on the source (a rule broken later fails here): imports run downward,
nobody imports the CLI, modules <= 450 lines, classes <= 300 lines, one home for atomic renames."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "MedPCLIPExtension" / "medpclip"
MODULE = REPO / "MedPCLIPModule"
SOURCES = sorted([*PACKAGE.rglob("*.py"), *MODULE.rglob("*.py")])
LOWER = ("model", "data", "engine", "training")
UPPER = ("evaluation", "monailabel", "web", "cli")


def _imports(path: Path) -> list[str]:
    """Absolute module names imported by ``path`` (relative imports resolved against the package)."""
    tree = ast.parse(path.read_text())
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts if PACKAGE in path.parents else ()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(parts[:-node.level]) if parts else []
                out.append(".".join(base + ([node.module] if node.module else [])))
            else:
                out.append(node.module or "")
    return out


@pytest.mark.parametrize("path", [p for p in SOURCES if PACKAGE in p.parents and p.relative_to(PACKAGE).parts[0] in LOWER],
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_lower_layers_do_not_import_upper_ones(path):
    bad = [m for m in _imports(path) if any(m == f"medpclip.{u}" or m.startswith(f"medpclip.{u}.") for u in UPPER)]
    assert not bad, bad


def test_nothing_imports_the_cli():
    users = [str(p) for p in SOURCES if any(m == "medpclip.cli" for m in _imports(p))]
    assert not users, users


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_modules_and_classes_stay_small(path):
    text = path.read_text()
    assert len(text.splitlines()) <= 450, f"{path.name}: {len(text.splitlines())} lines"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ClassDef):
            size = node.end_lineno - node.lineno + 1
            assert size <= 300, f"class {node.name}: {size} lines"


def test_atomic_renames_live_in_one_place():
    users = [p.name for p in SOURCES if "os.replace(" in p.read_text()]
    assert users == ["fileio.py"], users


def test_the_module_widget_uses_only_widgets_its_ui_file_has():
    """The Qt widget cannot run here (no Slicer GUI): at least every ``self.ui.<name>`` it uses must be a widget of
    its Designer file, or the module fails when Slicer loads it."""
    import re
    import xml.etree.ElementTree as ET

    names = {w.get("name") for w in ET.parse(MODULE / "Resources" / "UI" / "MedPCLIPModule.ui").iter("widget")}
    used = set(re.findall(r"self\.ui\.(\w+)", (MODULE / "MedPCLIPModule.py").read_text()))
    # the panel's buttons() names each enabled state after its button (segment -> segmentButton)
    panel = (MODULE / "MedPCLIPModuleLib" / "panel.py").read_text()
    states = re.search(r"def buttons\(.*?return \{(.*?)\}\n", panel, re.S).group(1)
    used |= {key + "Button" for key in re.findall(r'"(\w+)":', states)}
    assert used and not used - names, sorted(used - names)
