"""English / Simplified Chinese labels. Keys are the English text; missing entries fall back to it.

Every label, chart title, axis and message goes through :func:`translate` (pages use ``ui.t``),
so adding a language means adding one dict.
"""

from __future__ import annotations

__all__ = ["LANGS", "ZH", "retranslate", "translate"]

LANGS = {"en": "English", "zh": "简体中文"}

ZH: dict[str, str] = {
    "Overview": "概览",
    "Data": "数据",
    "Segments": "客户分群",
    "Lifecycle": "生命周期",
    "Funnels & cohorts": "漏斗与同期群",
    "Customer value": "客户价值",
    "Churn risk": "流失风险",
    "Campaigns": "营销活动",
    "Customer 360": "客户360",
    "Dataset": "数据集",
    "Language": "语言",
    "demo data": "演示数据",
    "customers": "客户",
    "Customers": "客户数",
    "Revenue": "收入",
    "revenue": "收入",
    "Transactions": "交易",
    "Download CSV": "下载 CSV",
    "Download XLSX": "下载 XLSX",
}


def _merge_locales() -> None:
    """Fold every ``clm_core/locales/<area>.py`` ZH dict into :data:`ZH`."""
    import importlib
    import pkgutil

    from clm_core import locales

    for mod in pkgutil.iter_modules(locales.__path__):
        ZH.update(getattr(importlib.import_module(f"clm_core.locales.{mod.name}"), "ZH", {}))


_merge_locales()


def retranslate(text: str, old: str, new: str) -> str:
    """``text``, shown in language ``old``, in language ``new`` (unknown text is unchanged)."""
    if old == new:
        return text
    english = {v: k for k, v in ZH.items()}.get(text, text) if old == "zh" else text
    return translate(english, new)


def translate(text: str, lang: str = "en") -> str:
    """The text in ``lang``; unknown text or language returns the English text unchanged."""
    if lang == "zh":
        return ZH.get(text, text)
    return text
