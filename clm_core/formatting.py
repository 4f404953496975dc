"""Numbers, money and dates formatted for the language and the dataset's currency."""

from __future__ import annotations

import datetime as dt

__all__ = ["CURRENCY_SYMBOLS", "fmt_count", "fmt_date", "fmt_money", "fmt_share"]

CURRENCY_SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def fmt_count(value: float, lang: str = "en") -> str:
    if lang == "zh" and abs(value) >= 10_000:
        return f"{value / 10_000:,.1f}万"
    return f"{value:,.0f}"


def fmt_money(value: float, currency: str = "USD", lang: str = "en") -> str:
    symbol = CURRENCY_SYMBOLS.get(currency, currency + " ")
    sign = "-" if value < 0 else ""
    value = abs(value)
    if lang == "zh" and value >= 10_000:
        return f"{sign}{symbol}{value / 10_000:,.1f}万"
    if value >= 1_000_000:
        return f"{sign}{symbol}{value / 1_000_000:,.2f}M"
    return f"{sign}{symbol}{value:,.0f}" if value >= 100 else f"{sign}{symbol}{value:,.2f}"


def fmt_share(value: float, lang: str = "en") -> str:
    return f"{value * 100:.1f}%"


def fmt_date(value: dt.date, lang: str = "en") -> str:
    if lang == "zh":
        return f"{value.year}年{value.month}月{value.day}日"
    return value.strftime("%d %b %Y")
