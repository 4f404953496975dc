"""Presenter-mode masking hides names, emails and phones."""

from __future__ import annotations

import pandas as pd

from clm_core.privacy import mask_email, mask_frame, mask_name, mask_phone


def test_maskers():
    assert mask_name("张伟") == "张*"
    assert mask_email("zhang.wei@example.com") == "z***@com"
    assert mask_phone("+86 138-0013-8000") == "*" * 9 + "8000"
    assert mask_name(None) is None


def test_mask_frame_hides_known_email_everywhere():
    df = pd.DataFrame(
        {
            "name": ["Alice Smith"],
            "email": ["alice@corp.example"],
            "phone": ["13800138000"],
            "text": ["please mail alice@corp.example back"],
            "amount": [3.0],
        }
    )
    masked = mask_frame(df)
    assert "alice@corp.example" not in masked.to_string()
    assert "Alice Smith" not in masked.to_string()
    assert masked.loc[0, "amount"] == 3.0
    assert df.loc[0, "email"] == "alice@corp.example"  # input untouched
