"""PII masking for presenter mode: names, emails and phones never reach the screen."""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["PII_COLUMNS", "mask_email", "mask_frame", "mask_name", "mask_phone", "mask_value"]

PII_COLUMNS = ("name", "email", "phone")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_DIGITS = re.compile(r"\d")


def mask_name(value) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    s = str(value)
    return s[:1] + "*" * max(1, len(s) - 1)


def mask_email(value) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    s = str(value)
    user, _, domain = s.partition("@")
    return f"{user[:1]}***@{domain.split('.')[-1] if domain else '***'}"


def mask_phone(value) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    digits = _DIGITS.findall(str(value))
    return "*" * max(0, len(digits) - 4) + "".join(digits[-4:])


_MASKERS = {"name": mask_name, "email": mask_email, "phone": mask_phone}


def mask_value(column: str, value):
    return _MASKERS[column](value) if column in _MASKERS else value


def mask_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with PII columns masked and e-mail addresses inside free text replaced."""
    out = df.copy()
    for col in out.columns:
        masker = _MASKERS.get(str(col).removeprefix("other_"))
        if masker:
            out[col] = out[col].map(masker)
        elif out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: _EMAIL.sub("***@***", v) if isinstance(v, str) else v)
    return out
