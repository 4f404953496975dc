"""The currency of a file's money: a symbol or code in its amounts, else its customers' country.

A UK shop's export has no "£" in its numbers but a Country column that says "United Kingdom" on
nine lines of ten. :func:`detect_currency` reads the sample the load already takes and returns
an ISO 4217 code with the reason shown to the analyst, who can change it in the mapping step
(``load --currency``). Country names in English or Chinese are resolved with Babel's CLDR data
(territory names and the currency each territory uses), not a hand-kept table.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["CURRENCIES", "CurrencyGuess", "detect_currency", "from_countries", "from_symbols"]

# Codes offered in the mapping step (any ISO code is accepted by the load).
CURRENCIES = ("CNY", "USD", "EUR", "GBP", "JPY", "HKD", "TWD", "SGD", "AUD", "CAD", "INR", "KRW")

# Symbols and codes written inside amounts. "$" alone is taken as USD and "¥" as CNY (the
# usual reading in the spreadsheets of this tool's users); the analyst can change either.
_MARKS = (
    ("£", "GBP"), ("€", "EUR"), ("₹", "INR"), ("₩", "KRW"), ("￥", "CNY"), ("¥", "CNY"),
    ("元", "CNY"), ("rmb", "CNY"), ("cny", "CNY"), ("hk$", "HKD"), ("hkd", "HKD"),
    ("us$", "USD"), ("usd", "USD"), ("gbp", "GBP"), ("eur", "EUR"), ("jpy", "JPY"),
    ("aud", "AUD"), ("cad", "CAD"), ("sgd", "SGD"), ("$", "USD"),
)  # fmt: skip
_SHARE = 0.5  # the top country must hold at least half the sampled lines


@dataclass(frozen=True)
class CurrencyGuess:
    """An ISO code and why it was chosen (``source``: "symbol" or "country")."""

    code: str
    source: str
    evidence: str

    def reason(self) -> str:
        if self.source == "symbol":
            return f"{self.code}: the amounts are written with {self.evidence!r}"
        return f"{self.code}: most lines are from {self.evidence}"


def from_symbols(values: Iterable[object]) -> CurrencyGuess | None:
    """The currency whose symbol or code appears in most of the sampled amounts."""
    counts: Counter[str] = Counter()
    marks: dict[str, str] = {}
    for value in values:
        if value is None:
            continue
        text = str(value).lower()
        if not re.search(r"\d", text):
            continue
        for mark, code in _MARKS:
            if mark in text:
                counts[code] += 1
                marks.setdefault(code, mark)
                break
    if not counts:
        return None
    code, _ = counts.most_common(1)[0]
    return CurrencyGuess(code, "symbol", marks[code])


@lru_cache(maxsize=1)
def _territories() -> dict[str, str]:
    """Lower-cased country name (English, Chinese, ISO codes) -> territory code."""
    from babel import Locale

    names: dict[str, str] = {}
    for lang in ("zh", "en"):
        for code, name in Locale(lang).territories.items():
            if code.isalpha():
                names[name.lower()] = code
    names.update({code.lower(): code for code in set(names.values()) if len(code) == 2})
    # Spellings found in real exports that CLDR does not list.
    names.update({"uk": "GB", "great britain": "GB", "england": "GB", "usa": "US", "eire": "IE",
                  "rsa": "ZA", "prc": "CN"})  # fmt: skip
    return names


def from_countries(values: Iterable[object]) -> CurrencyGuess | None:
    """The currency of the country that most sampled lines (at least half) come from."""
    seen = Counter(str(v).strip() for v in values if v is not None and str(v).strip())
    total = sum(seen.values())
    if not total:
        return None
    name, n = seen.most_common(1)[0]
    if n < _SHARE * total:
        return None
    territory = _territories().get(name.lower())
    if territory is None:
        return None
    from babel.numbers import get_territory_currencies

    try:
        codes = get_territory_currencies(territory, tender=True)
    except Exception:  # noqa: BLE001 - Babel raises several kinds for unknown territories
        return None
    return CurrencyGuess(codes[0], "country", name) if codes else None


def detect_currency(
    amounts: Iterable[object] = (), countries: Iterable[object] = ()
) -> CurrencyGuess | None:
    """A symbol in the amounts wins; else the dominant country's currency; else None."""
    return from_symbols(amounts) or from_countries(countries)
