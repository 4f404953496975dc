"""Every literal label passed to t()/translate()/style() has a Chinese translation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from clm_core import i18n

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    [
        *ROOT.glob("pages/*.py"),
        *ROOT.glob("ui/*.py"),
        *ROOT.glob("clm_core/charts/*.py"),
        ROOT / "app.py",
    ]
)
_FUNCS = {"t", "translate", "_t", "tr", "money_shown"}  # money_shown: a page's no-amounts note


def _labels(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        arg = node.args[1] if name == "style" and len(node.args) > 1 else node.args[0]
        if (
            name in _FUNCS | {"style"}
            and isinstance(arg, ast.Constant)
            and isinstance(arg.value, str)
        ):
            out.append((node.lineno, arg.value))
    return out


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_every_label_has_chinese(path):
    missing = [
        f"{path.name}:{line}: {text!r}" for line, text in _labels(path) if text not in i18n.ZH
    ]
    assert not missing, "no zh translation for:\n" + "\n".join(missing)


def test_translate_falls_back_to_english():
    assert i18n.translate("Revenue", "zh") == "收入"
    assert i18n.translate("Revenue", "en") == "Revenue"
    assert i18n.translate("no such label", "zh") == "no such label"


def test_no_english_text_has_two_translations():
    # Locale modules are merged into one dict: a text translated twice keeps whichever module
    # loads last (the CLV tab "Value" showed the data page's 值, a cell value, for 价值).
    import importlib
    import pkgutil

    from clm_core import locales

    seen, clashes = {}, []
    for mod in pkgutil.iter_modules(locales.__path__):
        for en, zh in importlib.import_module(f"clm_core.locales.{mod.name}").ZH.items():
            if en in seen and seen[en][1] != zh:
                clashes.append(f"{en!r}: {seen[en]} vs {(mod.name, zh)}")
            seen.setdefault(en, (mod.name, zh))
    assert not clashes, "\n".join(clashes)
    assert i18n.translate("Value", "zh") == "价值"
