"""Built-in demo datasets: a seeded synthetic retailer and the real CDNow purchase history.

``build_demo`` writes ``demo-retail``: a Chinese online/offline retailer, 2023-01-01 ..
2025-12-31, with all five canonical tables. It is deterministic for a seed (same seed, same
rows) and vectorised with numpy, so 20k customers build in seconds and 1M customers (for
benchmarks) in minutes; customers are simulated in fixed-size chunks so memory stays bounded.

What is planted in the data (so every page has something true to find):

- acquisition channels differ in cost per customer *and* in customer quality (referral and
  organic customers buy more often and churn less than social or affiliate ones);
- purchases follow buy-till-you-die behaviour: each customer buys as a Poisson process with a
  gamma-distributed rate and becomes inactive after any purchase with a beta-distributed
  probability (the BG/NBD story, Fader, Hardie & Lee 2005), so BG/NBD fits it sensibly;
  on top: decliners whose orders thin out and shrink, shopping-festival peaks (618, 11.11),
  the Spring Festival dip, ~3% returns (negative amounts), discounts for price-sensitive
  customers, and won-back customers who come back after a long silence;
- two retention A/B tests with random assignment and a real uplift: ``winback-2025Q3``
  (control 8% -> SMS 11.5% / phone 13% conversion within 30 days) and
  ``reactivation-email-2024Q4`` (6% -> 7.5%); ``converted`` means the customer really has a
  purchase in ``transactions`` within 30 days after ``sent_ts`` and ``revenue`` is its amount;
- events: a visit -> signup -> add_to_cart -> purchase funnel with channel-specific drop-off,
  anonymous visitors (ids ``V...``) who never sign up, and logins that fade out during the
  90 days before a customer stops buying (a churn signal);
- feedback: complaints (score = CSAT 1-5 of the resolution) far more common among customers
  who later churn, NPS surveys (score 0-10) lower among them; Chinese and English text;
- prospects (signed up, never bought) and near-duplicate customers (one person, two ids, same
  name, email/phone written differently) for the duplicate detector.
"""

from __future__ import annotations

import importlib.resources
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from clm_core import store
from clm_core.config import SCHEMAS
from clm_core.errors import UsageError

__all__ = [
    "CAMPAIGNS",
    "CHANNELS",
    "HISTORY_END",
    "HISTORY_START",
    "build_cdnow",
    "build_demo",
    "cdnow_path",
]

HISTORY_START = "2023-01-01"
HISTORY_END = "2025-12-31"  # inclusive; nothing depends on today's date
_START = np.datetime64(HISTORY_START, "D")
_N_DAYS = int((np.datetime64(HISTORY_END, "D") - _START).astype(int)) + 1  # 1096
_CHUNK = 250_000  # customers simulated at a time; fixed so output does not depend on memory

# Acquisition channels: share, mean acquisition cost (CNY), purchase-rate multiplier,
# dropout multiplier, spend multiplier, share of price-sensitive customers, share of prospects.
CHANNELS: dict[str, dict[str, float]] = {
    "organic": dict(share=0.27, cac=8, rate=1.10, dropout=0.85, spend=1.05, sensitive=0.20, prospect=0.10),
    "paid_search": dict(share=0.22, cac=95, rate=1.00, dropout=1.00, spend=1.00, sensitive=0.30, prospect=0.12),
    "social": dict(share=0.18, cac=70, rate=0.80, dropout=1.45, spend=0.85, sensitive=0.45, prospect=0.22),
    "referral": dict(share=0.10, cac=45, rate=1.30, dropout=0.65, spend=1.15, sensitive=0.20, prospect=0.07),
    "email": dict(share=0.10, cac=15, rate=1.00, dropout=0.90, spend=0.95, sensitive=0.35, prospect=0.12),
    "affiliate": dict(share=0.13, cac=60, rate=0.75, dropout=1.30, spend=0.90, sensitive=0.55, prospect=0.18),
}  # fmt: skip

REGIONS = {
    "华东": 0.32,
    "华南": 0.22,
    "华北": 0.17,
    "华中": 0.10,
    "西南": 0.10,
    "西北": 0.05,
    "东北": 0.04,
}
OWNERS = {
    "华东": ["陈思远", "王晓梅"],
    "华南": ["林嘉豪", "黄诗婷"],
    "华北": ["刘建国", "赵雅琪"],
    "华中": ["周文静"],
    "西南": ["杨帆"],
    "西北": ["马骏"],
    "东北": ["孙丽娜"],
}
# Order channels: share of customers preferring it; events funnel drop-off for online ones
# (extra visit-only and visit+cart sessions per purchase session).
ORDER_CHANNELS = {"web": 0.30, "app": 0.35, "mini-program": 0.20, "store": 0.15}
_FUNNEL_EXTRA = {"web": (1.6, 0.8), "app": (0.8, 0.4), "mini-program": (1.2, 0.6)}
_VISITORS_PER_SIGNUP = {"web": 1.6, "app": 0.6, "mini-program": 1.1}

# category: (share, price multiplier, return rate, products)
CATEGORIES: dict[str, tuple[float, float, float, list[str]]] = {
    "服装": (0.26, 0.9, 0.065, ["连衣裙", "T恤", "牛仔裤", "羽绒服", "运动鞋", "衬衫"]),
    "美妆": (0.20, 0.8, 0.020, ["面霜", "精华液", "口红", "防晒霜", "面膜"]),
    "数码": (0.12, 2.6, 0.035, ["蓝牙耳机", "充电宝", "智能手表", "平板保护壳", "机械键盘"]),
    "家居": (0.16, 1.2, 0.025, ["四件套", "收纳箱", "香薰蜡烛", "保温杯", "台灯"]),
    "食品": (0.16, 0.45, 0.004, ["坚果礼盒", "咖啡豆", "茶叶", "零食大礼包", "牛奶"]),
    "母婴": (0.10, 1.1, 0.020, ["纸尿裤", "奶粉", "婴儿推车", "儿童绘本"]),
}

# Campaigns in date order: (name, first send day, send days, eligibility lapse in days
# (min, max), variants {name: (channel, cost per contact CNY, conversion probability)}).
CAMPAIGNS: list[dict] = [
    dict(
        name="reactivation-email-2024Q4",
        sent="2024-10-15",
        days=4,
        lapse=(60, 365),
        variants={"control": (None, 0.0, 0.060), "treatment": ("email", 0.05, 0.075)},
    ),
    dict(
        name="winback-2025Q3",
        sent="2025-07-07",
        days=5,
        lapse=(120, 10_000),
        variants={
            "control": (None, 0.0, 0.080),
            "treatment_a": ("sms", 0.35, 0.115),
            "treatment_b": ("phone", 6.0, 0.130),
        },
    ),
]
_CONVERSION_DAYS = 30

_SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
    ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"),
    ("林", "lin"), ("罗", "luo"), ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"),
    ("唐", "tang"), ("许", "xu"), ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"),
    ("彭", "peng"), ("曾", "zeng"), ("肖", "xiao"), ("田", "tian"), ("董", "dong"), ("袁", "yuan"),
    ("潘", "pan"), ("于", "yu"), ("蒋", "jiang"), ("蔡", "cai"), ("欧阳", "ouyang"), ("司马", "sima"),
]  # fmt: skip
_GIVEN = [
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"), ("丽", "li"),
    ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"), ("艳", "yan"),
    ("杰", "jie"), ("娟", "juan"), ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀", "xiu"),
    ("霞", "xia"), ("平", "ping"), ("刚", "gang"), ("英", "ying"), ("华", "hua"), ("建", "jian"),
    ("文", "wen"), ("玲", "ling"), ("辉", "hui"), ("鹏", "peng"), ("婷", "ting"), ("宇", "yu"),
    ("浩", "hao"), ("欣", "xin"), ("晨", "chen"), ("雪", "xue"), ("琳", "lin"), ("博", "bo"),
    ("梓", "zi"), ("一", "yi"), ("佳", "jia"), ("俊", "jun"), ("思", "si"), ("雨", "yu"),
    ("嘉", "jia"), ("晓", "xiao"), ("志", "zhi"), ("海", "hai"), ("红", "hong"), ("丹", "dan"),
]  # fmt: skip
_MAIL_DOMAINS = [
    "qq.com",
    "163.com",
    "126.com",
    "gmail.com",
    "outlook.com",
    "sina.com",
    "foxmail.com",
]
_PHONE_PREFIXES = [
    "130", "131", "132", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "158", "159", "176", "177", "180", "181", "185", "186", "187", "188", "189", "199",
]  # fmt: skip

_COMPLAINTS = [
    "快递太慢了，等了一个多星期才到。",
    "收到的商品有破损，申请退款一直没人处理。",
    "客服态度很差，问题没有解决。",
    "质量和描述不符，非常失望。",
    "优惠券用不了，结算时价格不对。",
    "退货流程太复杂，运费还要自己出。",
    "发错货了，换货等了很久。",
    "会员积分莫名其妙被清零了。",
    "Delivery was late and nobody told me why.",
    "The item arrived damaged and the refund is still pending.",
    "Customer service closed my ticket without solving anything.",
    "Charged twice for the same order.",
]
_PRAISE = [
    "物流很快，包装也很好。",
    "客服很耐心，推荐给朋友了。",
    "质量不错，会回购。",
    "Great quality, fast delivery.",
    "Easy returns, will shop again.",
]
_NEUTRAL = ["还可以，价格有点贵。", "一般般，活动多的时候再买。", "OK overall, app is a bit slow."]
_DETRACT = [
    "最近体验越来越差。",
    "价格涨了，质量却下降了。",
    "Too many problems lately, switching shops.",
]

# Hour-of-day weights for online orders (lunch and evening peaks); stores open 10:00-22:00.
_HOUR_WEIGHTS = np.array(
    [2, 1, 0.6, 0.4, 0.3, 0.4, 1, 2, 3.5, 4.5, 5, 5.5, 7, 6, 5, 4.5, 4.5, 5, 5.5, 7, 8.5, 9, 7.5, 4]
)


def _day(date: str) -> int:
    return int((np.datetime64(date, "D") - _START).astype(int))


def _season() -> np.ndarray:
    """Relative purchase intensity per day: 618 and 11.11 festivals up, Spring Festival down."""
    days = pd.date_range(HISTORY_START, periods=_N_DAYS, freq="D")
    s = np.ones(_N_DAYS)
    md = days.month * 100 + days.day
    s[(md >= 601) & (md <= 618)] = 1.35
    s[md == 618] = 1.9
    s[(md >= 1101) & (md <= 1111)] = 1.5
    s[md == 1111] = 2.0
    s[md == 1212] = 1.5
    for new_year in ("2023-01-22", "2024-02-10", "2025-01-29"):
        d = _day(new_year)
        s[max(d - 7, 0) : d + 8] = 0.55
    return s


def _stream(rng, start, end, rate, jmax, accept=None):
    """Poisson(``rate`` per day) arrivals in [start, end) per row, thinned, first ``jmax`` kept.

    Returns (row index, time in days, cut) sorted by row then time; ``cut[i]`` is True when
    ``jmax`` stopped row i before its arrivals ran out (the customer became inactive).
    """
    span = np.clip(end - start, 0.0, None)
    n = rng.poisson(rate * span)
    idx = np.repeat(np.arange(len(start)), n)
    t = start[idx] + rng.random(idx.size) * span[idx]
    if accept is not None:
        keep = rng.random(idx.size) < accept(idx, t)
        idx, t = idx[keep], t[keep]
    # idx is already grouped (np.repeat); sort by time inside each row with one float key.
    order = np.argsort(idx + (t - start[idx]) / (span[idx] * (1 + 1e-9) + 1e-12), kind="stable")
    idx, t = idx[order], t[order]
    counts = np.bincount(idx, minlength=len(start))
    first = np.cumsum(counts) - counts
    rank = np.arange(idx.size) - first[idx]
    keep = rank < jmax[idx]
    return idx[keep], t[keep], counts > jmax


def _last_per_row(n: int, idx: np.ndarray, t: np.ndarray, default: np.ndarray) -> np.ndarray:
    """Largest ``t`` per row (``default`` where a row has none)."""
    out = np.full(n, -np.inf)
    np.maximum.at(out, idx, t)
    return np.where(np.isneginf(out), default, out)


def _time_of_day(rng, day: np.ndarray, store_mask: np.ndarray) -> np.ndarray:
    """Whole day + a time of day: online orders follow _HOUR_WEIGHTS, stores 10:00-22:00."""
    hours = rng.choice(24, size=day.size, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()).astype(float)
    hours = np.where(store_mask, rng.integers(10, 22, size=day.size), hours)
    return np.floor(day) + (hours + rng.random(day.size)) / 24.0


def _pick(rng, options: dict[str, float] | list, size: int, p=None) -> np.ndarray:
    keys = list(options)
    if p is None and isinstance(options, dict):
        p = np.array(list(options.values()), dtype=float)
        p = p / p.sum()
    return rng.choice(len(keys), size=size, p=p)


def _to_ts(days: np.ndarray) -> np.ndarray:
    """Days since HISTORY_START (float) -> datetime64[us], rounded to the second."""
    secs = np.round(np.asarray(days, dtype=float) * 86400).astype("int64")
    return (_START.astype("datetime64[s]") + secs.astype("timedelta64[s]")).astype("datetime64[us]")


def _cat(codes: np.ndarray, categories: list) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes, dtype="int64"), categories=categories)


class _Chunk:
    """Customers ``offset+1 .. offset+n`` simulated with their own random stream."""

    def __init__(self, rng: np.random.Generator, offset: int, n: int, order_offset: int) -> None:
        self.rng, self.offset, self.n, self.order_offset = rng, offset, n, order_offset
        self.season = _season()
        self.accept_season = self.season / self.season.max()
        self.season_boost = self.season.max() / self.season.mean()

    # ---- customers --------------------------------------------------------------------
    def customers(self) -> pd.DataFrame:
        rng, n = self.rng, self.n
        ch_names = list(CHANNELS)
        ch = _pick(rng, {k: v["share"] for k, v in CHANNELS.items()}, n)
        par = {k: np.array([CHANNELS[c][k] for c in ch_names])[ch] for k in CHANNELS["organic"]}
        # Signups grow over time: an even base plus a share whose density rises ~ t^0.5.
        u = rng.random(n)
        signup_day = np.floor(_N_DAYS * np.where(rng.random(n) < 0.3, u, u ** (1 / 1.5)))
        self.signup = _time_of_day(rng, signup_day, np.zeros(n, bool))
        self.channel = ch
        self.cac = np.round(par["cac"] * rng.lognormal(0, 0.35, n), 2)
        self.region = _pick(rng, REGIONS, n)
        regions = list(REGIONS)
        owner_names = [o for r in regions for o in OWNERS[r]]
        owner_first = np.cumsum([0] + [len(OWNERS[r]) for r in regions])[:-1]
        owner_count = np.array([len(OWNERS[r]) for r in regions])
        owner = owner_first[self.region] + rng.integers(0, 1 << 30, n) % owner_count[self.region]

        # Latent behaviour (never stored): BG/NBD rate and dropout, spend level, habits.
        self.rate = np.minimum(rng.gamma(0.9, 0.066 / 0.9, n) * par["rate"], 0.35)
        self.dropout = np.clip(rng.beta(1.1, 14.0, n) * par["dropout"], 0.004, 0.95)
        self.spend = np.exp(np.log(150) + rng.normal(0, 0.55, n)) * par["spend"]
        self.sensitive = rng.random(n) < par["sensitive"]
        self.decliner = rng.random(n) < 0.12
        self.decline_tau = rng.uniform(120, 360, n)
        self.pref_channel = _pick(rng, ORDER_CHANNELS, n)
        self.pref_category = _pick(rng, {k: v[0] for k, v in CATEGORIES.items()}, n)
        self.prospect = rng.random(n) < par["prospect"]

        sur = rng.choice(len(_SURNAMES), n, p=_zipf(len(_SURNAMES)))
        g1 = rng.integers(0, len(_GIVEN), n)
        g2 = rng.integers(0, len(_GIVEN), n)
        two = rng.random(n) < 0.65
        zh = np.array([s for s, _ in _SURNAMES])
        py = np.array([p for _, p in _SURNAMES])
        gzh = np.array([s for s, _ in _GIVEN])
        gpy = np.array([p for _, p in _GIVEN])
        empty = np.array([""])
        name = np.char.add(np.char.add(zh[sur], gzh[g1]), np.where(two, gzh[g2], empty[0]))
        local = np.char.add(np.char.add(py[sur], gpy[g1]), np.where(two, gpy[g2], empty[0]))
        sep = np.array(["", ".", "_", ""])[rng.integers(0, 4, n)]  # between name and number
        num = rng.integers(1, 10_000, n).astype(str)
        no_num = rng.random(n) < 0.2
        num = np.where(no_num, "", num)
        sep = np.where(no_num, "", sep)
        domain = np.array(_MAIL_DOMAINS)[rng.integers(0, len(_MAIL_DOMAINS), n)]
        email = np.char.add(np.char.add(np.char.add(local, sep), num), np.char.add("@", domain))
        phone = np.char.add(
            np.array(_PHONE_PREFIXES)[rng.integers(0, len(_PHONE_PREFIXES), n)],
            np.char.zfill(rng.integers(0, 100_000_000, n).astype(str), 8),
        )
        name, email, phone = self._plant_duplicates(name, email, phone)
        return pd.DataFrame(
            {
                "cidx": np.arange(self.offset + 1, self.offset + n + 1),
                "signup_ts": _to_ts(self.signup),
                "acquisition_channel": _cat(ch, ch_names),
                "acquisition_cost": self.cac,
                "region": _cat(self.region, regions),
                "name": name.astype(object),
                "email": email.astype(object),
                "phone": phone.astype(object),
                "owner": _cat(owner, owner_names),
            }
        )

    def _plant_duplicates(self, name, email, phone):
        """About 1 in 400 customers is a second account of an earlier customer."""
        rng, n = self.rng, self.n
        k = max(2, n // 400) if n >= 20 else 0
        if k == 0:
            return name, email, phone
        picks = rng.choice(n, size=2 * k, replace=False)
        src, dup = picks[:k], picks[k:]
        name, email, phone = name.astype(object), email.astype(object), phone.astype(object)
        self.signup[dup] = np.maximum(self.signup[dup], self.signup[src] + rng.uniform(30, 300, k))
        self.signup[dup] = np.minimum(self.signup[dup], _N_DAYS - 0.01)
        name[dup] = name[src]
        how = rng.integers(0, 4, k)
        for j in range(k):  # k is tiny (0.25% of customers): string edits per pair are fine
            e, p = str(email[src[j]]), str(phone[src[j]])
            local, domain = e.split("@")
            if how[j] == 0:
                email[dup[j]] = e.capitalize()
                phone[dup[j]] = f"+86 {p[:3]} {p[3:7]} {p[7:]}"
            elif how[j] == 1:
                email[dup[j]] = f"{local}@{'qq.com' if domain != 'qq.com' else '163.com'}"
                phone[dup[j]] = f"{p[:3]}-{p[3:7]}-{p[7:]}"
            elif how[j] == 2:
                email[dup[j]] = e
                phone[dup[j]] = p
                name[dup[j]] = name[src[j]] + " "
            else:
                email[dup[j]] = f"{local}1@{domain}"
                phone[dup[j]] = p
        self.dup_pairs = np.column_stack([src, dup]) + self.offset + 1
        return name, email, phone

    # ---- purchases --------------------------------------------------------------------
    def purchases(self) -> None:
        """Purchase times (days since start) for every customer: self.p_idx, self.p_t."""
        rng, n = self.rng, self.n
        buyer = ~self.prospect
        same_session = rng.random(n) < 0.55
        delay = np.where(same_session, rng.uniform(2, 90, n) / 1440, rng.exponential(25, n))
        t0 = self.signup + delay
        buyer &= t0 < _N_DAYS
        self.t0 = np.where(buyer, t0, np.inf)
        self.buyer = buyer
        b = np.flatnonzero(buyer)

        def accept(i, t):
            acc = self.accept_season[np.minimum(t.astype(int), _N_DAYS - 1)]
            row = b[i]
            dec = np.where(
                self.decliner[row], np.exp(-(t - self.t0[row]) / self.decline_tau[row]), 1.0
            )
            return acc * dec

        jmax = rng.geometric(self.dropout[b]) - 1
        i, t, cut = _stream(
            rng,
            self.t0[b],
            np.full(b.size, float(_N_DAYS)),
            self.rate[b] * self.season_boost,
            jmax,
            accept,
        )
        last = _last_per_row(b.size, i, t, self.t0[b])
        self.death = np.full(n, np.inf)
        self.death[b] = np.where(cut, last, np.inf)
        idx = [b, b[i]]
        times = [self.t0[b], t]
        self.active = [(b, self.t0[b], np.minimum(self.death[b], _N_DAYS))]

        # Organic win-back: some inactive customers return after a long silence.
        dead = np.flatnonzero(np.isfinite(self.death) & (self.death < _N_DAYS - 240))
        back = dead[rng.random(dead.size) < 0.06]
        restart = self.death[back] + rng.uniform(180, 540, back.size)
        back, restart = back[restart < _N_DAYS], restart[restart < _N_DAYS]
        idx.append(back)
        times.append(restart)
        idx2, times2, death2 = self._follow_on(back, restart)
        idx.append(idx2)
        times.append(times2)
        self.death[back] = death2
        self.p_idx = np.concatenate(idx)
        self.p_t, self.p_chan = self._timed(self.p_idx, np.concatenate(times))

    def _timed(self, idx, t):
        """Order channel and time of day for purchases of customers ``idx`` on days ``t``."""
        rng, m = self.rng, idx.size
        chan = np.where(rng.random(m) < 0.75, self.pref_channel[idx], _pick(rng, ORDER_CHANNELS, m))
        t = _time_of_day(rng, t, chan == list(ORDER_CHANNELS).index("store"))
        # the first purchase stays after signup (same-session buys keep their minute)
        return np.maximum(t, self.signup[idx] + 1 / 1440), chan

    def _follow_on(self, who, start):
        """A new buying spell from ``start`` (after a win-back); returns idx, times, death."""
        rng = self.rng
        jmax = rng.geometric(self.dropout[who]) - 1
        i, t, cut = _stream(rng, start, np.full(who.size, float(_N_DAYS)), self.rate[who], jmax)
        last = _last_per_row(who.size, i, t, start)
        death = np.where(cut, last, np.inf)
        self.active.append((who, start, np.minimum(death, _N_DAYS)))
        return who[i], t, death

    def campaigns(self) -> pd.DataFrame:
        """Run the A/B tests in date order; purchases are added or removed to match outcomes."""
        rng = self.rng
        frames = []
        for camp in CAMPAIGNS:
            sent0 = _day(camp["sent"])
            last = _last_per_row(
                self.n,
                self.p_idx,
                np.where(self.p_t < sent0, self.p_t, -np.inf),
                np.full(self.n, -np.inf),
            )
            lapse = sent0 - last
            lo, hi = camp["lapse"]
            elig = np.flatnonzero((lapse >= lo) & (lapse <= hi))
            if elig.size == 0:
                continue
            names = list(camp["variants"])
            variant = rng.integers(0, len(names), elig.size)
            sent = (
                sent0
                + rng.integers(0, camp["days"], elig.size)
                + (9 + rng.random(elig.size) * 9) / 24
            )
            channel = np.array([camp["variants"][v][0] or "" for v in names], dtype=object)[variant]
            cost = np.array([camp["variants"][v][1] for v in names])[variant]
            p_conv = np.array([camp["variants"][v][2] for v in names])[variant]
            converted = rng.random(elig.size) < p_conv
            # Non-converted customers must not buy inside the window; converted ones must.
            end = sent + _CONVERSION_DAYS
            pos = np.full(self.n, -1)
            pos[elig] = np.arange(elig.size)
            k = pos[self.p_idx]
            inside = (
                (k >= 0)
                & (self.p_t >= np.where(k >= 0, sent[k], 0))
                & (self.p_t < np.where(k >= 0, end[k], 0))
            )
            drop = inside & ~converted[np.maximum(k, 0)]
            has = np.zeros(elig.size, bool)
            has[k[inside & ~drop]] = True
            keep = ~drop
            self.p_idx, self.p_t, self.p_chan = self.p_idx[keep], self.p_t[keep], self.p_chan[keep]
            need = np.flatnonzero(converted & ~has)
            t_buy = sent[need] + _CONVERSION_DAYS * rng.beta(1.0, 3.0, need.size) * 0.999
            c_buy = np.where(
                rng.random(need.size) < 0.75,
                self.pref_channel[elig[need]],
                _pick(rng, ORDER_CHANNELS, need.size),
            )
            # Some converted customers are really won back: a new buying spell follows.
            spell = need[rng.random(need.size) < 0.5]
            s_idx, s_t, s_death = self._follow_on(
                elig[spell], np.minimum(sent[spell] + _CONVERSION_DAYS, _N_DAYS)
            )
            s_t, s_chan = self._timed(s_idx, s_t)
            self.death[elig[spell]] = s_death
            self.p_idx = np.concatenate([self.p_idx, elig[need], s_idx])
            self.p_t = np.concatenate([self.p_t, t_buy, s_t])
            self.p_chan = np.concatenate([self.p_chan, c_buy, s_chan])
            frames.append(
                pd.DataFrame(
                    {
                        "cidx": elig + self.offset + 1,
                        "campaign": camp["name"],
                        "variant": _cat(variant, names),
                        "sent_ts": _to_ts(sent),
                        "channel": np.where(channel == "", None, channel),
                        "cost": cost,
                        "converted": converted,
                        "window_end": _to_ts(end),
                    }
                )
            )
        if not frames:
            return pd.DataFrame(
                columns=[
                    "cidx",
                    "campaign",
                    "variant",
                    "sent_ts",
                    "channel",
                    "cost",
                    "converted",
                    "window_end",
                ]
            )
        return pd.concat(frames, ignore_index=True)

    # ---- transactions -----------------------------------------------------------------
    def transactions(self) -> pd.DataFrame:
        rng = self.rng
        ok = self.p_t < _N_DAYS
        idx, t, chan = self.p_idx[ok], self.p_t[ok], self.p_chan[ok]
        m = idx.size
        cats = list(CATEGORIES)
        cat = np.where(
            rng.random(m) < 0.65,
            self.pref_category[idx],
            _pick(rng, {k: v[0] for k, v in CATEGORIES.items()}, m),
        )
        price_mult = np.array([CATEGORIES[c][1] for c in cats])[cat]
        products = [p for c in cats for p in CATEGORIES[c][3]]
        first = np.cumsum([0] + [len(CATEGORIES[c][3]) for c in cats])[:-1]
        count = np.array([len(CATEGORIES[c][3]) for c in cats])
        product = first[cat] + rng.integers(0, 1 << 30, m) % count[cat]
        qty = 1 + rng.poisson(0.5, m)
        gross = self.spend[idx] * price_mult * rng.lognormal(-0.08, 0.4, m) * (1 + 0.25 * (qty - 1))
        dec = self.decliner[idx]
        gross = np.where(dec, gross * np.exp(-(t - self.t0[idx]) / 500), gross)
        festival = self.season[np.minimum(t.astype(int), _N_DAYS - 1)] > 1.2
        p_disc = np.where(self.sensitive[idx], 0.6, 0.1) + np.where(festival, 0.25, 0.0)
        rate = np.array([0.05, 0.1, 0.15, 0.2, 0.3])[rng.integers(0, 5, m)]
        discount = np.where(rng.random(m) < p_disc, np.round(gross * rate, 2), 0.0)
        amount = np.round(np.maximum(gross - discount, 1.0), 2)
        order = np.lexsort((t, idx))
        idx, t, chan, cat, product, qty, amount, discount = (
            a[order] for a in (idx, t, chan, cat, product, qty, amount, discount)
        )
        order_no = self.order_offset + 1 + np.argsort(np.argsort(t, kind="stable"), kind="stable")
        self.order_count = m

        # Returns: same order id, a few days later, negative amount (full or half).
        ret_rate = np.array([CATEGORIES[c][2] for c in cats])[cat] * 1.1
        r = np.flatnonzero(rng.random(m) < ret_rate)
        r_t = t[r] + rng.uniform(2, 20, r.size)
        r = r[r_t < _N_DAYS]
        r_t = r_t[r_t < _N_DAYS]
        half = rng.random(r.size) < 0.3
        r_amount = -np.round(np.where(half, amount[r] / 2, amount[r]), 2)
        r_qty = -np.where(half, 1, qty[r])
        self.tx_idx, self.tx_t, self.tx_chan = idx, t, chan
        df = pd.DataFrame(
            {
                "cidx": np.concatenate([idx, idx[r]]) + self.offset + 1,
                "order_no": np.concatenate([order_no, order_no[r]]),
                "order_ts": _to_ts(np.concatenate([t, r_t])),
                "amount": np.concatenate([amount, r_amount]),
                "quantity": np.concatenate([qty, r_qty]).astype(float),
                "product": _cat(np.concatenate([product, product[r]]), products),
                "category": _cat(np.concatenate([cat, cat[r]]), cats),
                "channel": _cat(np.concatenate([chan, chan[r]]), list(ORDER_CHANNELS)),
                "discount": np.concatenate([discount, np.zeros(r.size)]),
            }
        )
        return df

    # ---- events -----------------------------------------------------------------------
    def events(self) -> pd.DataFrame:
        rng, n = self.rng, self.n
        names = ["visit", "signup", "add_to_cart", "purchase", "login"]
        chans = list(ORDER_CHANNELS)
        parts: list[tuple[np.ndarray, np.ndarray, int | np.ndarray, np.ndarray]] = []

        def add(who, t, name, chan):
            parts.append((np.asarray(who), np.asarray(t, float), name, np.asarray(chan)))

        # Signup funnel: a visit minutes before signing up, on the preferred online channel.
        sign_chan = np.where(
            self.pref_channel == chans.index("store"), chans.index("web"), self.pref_channel
        )
        everyone = np.arange(n)
        add(everyone, self.signup - rng.uniform(1, 25, n) / 1440, 0, sign_chan)
        add(everyone, self.signup, 1, sign_chan)

        # Purchase sessions for online orders, plus sessions that dropped out of the funnel.
        is_online = self.tx_chan != chans.index("store")
        who, t, ch = self.tx_idx[is_online], self.tx_t[is_online], self.tx_chan[is_online]
        visit_t = t - rng.uniform(3, 40, who.size) / 1440
        add(who, visit_t, 0, ch)
        add(who, visit_t + (t - visit_t) * rng.uniform(0.3, 0.9, who.size), 2, ch)
        add(who, t, 3, ch)
        extra_visit = np.array([_FUNNEL_EXTRA.get(c, (0, 0))[0] for c in chans])[ch]
        extra_cart = np.array([_FUNNEL_EXTRA.get(c, (0, 0))[1] for c in chans])[ch]
        for lam, with_cart in ((extra_visit, False), (extra_cart, True)):
            k = rng.poisson(lam)
            rep = np.repeat(np.arange(who.size), k)
            w = who[rep]
            s = t[rep] - rng.uniform(0, 21, rep.size)
            # sessions that would fall before signup happen between signup and the purchase
            early = s <= self.signup[w]
            s = np.where(
                early,
                self.signup[w] + rng.uniform(0.05, 0.95, rep.size) * (t[rep] - self.signup[w]),
                s,
            )
            add(w, s, 0, ch[rep])
            if with_cart:
                add(w, s + rng.uniform(1, 20, rep.size) / 1440, 2, ch[rep])
        # Prospects browse a little after signing up, then stop.
        pro = np.flatnonzero(~self.buyer)
        k = rng.poisson(1.5, pro.size)
        rep = pro[np.repeat(np.arange(pro.size), k)]
        s = self.signup[rep] + rng.exponential(15, rep.size)
        add(rep, s, 0, sign_chan[rep])
        cart = rng.random(rep.size) < 0.3
        add(rep[cart], s[cart] + rng.uniform(1, 15, cart.sum()) / 1440, 2, sign_chan[rep][cart])

        # Logins while active; they fade over the 90 days before a customer stops buying.
        for who, start, end in self.active:
            died = end < _N_DAYS
            rate = np.clip(0.8 * self.rate[who], 0.005, 0.25)
            stop = np.where(died, end + 30, _N_DAYS)

            def fade(i, tt, end=end, died=died):
                ramp = np.clip((end[i] - tt) / 90.0, 0.05, 1.0)
                return np.where(died[i], np.where(tt > end[i], 0.1, ramp), 1.0)

            i, tt, _ = _stream(
                rng, start, np.minimum(stop, _N_DAYS), rate, np.full(who.size, 1 << 40), fade
            )
            c = sign_chan[who[i]]
            add(who[i], tt, 4, c)

        cidx = np.concatenate([p[0] for p in parts]) + self.offset + 1
        ts = np.concatenate([p[1] for p in parts])
        name = np.concatenate([np.full(p[0].size, p[2]) for p in parts])
        chan = np.concatenate([p[3] for p in parts])
        keep = (ts < _N_DAYS) & (ts >= 0)
        df = pd.DataFrame(
            {
                "cidx": cidx[keep],
                "visitor": np.zeros(keep.sum(), bool),
                "event_name": _cat(name[keep], names),
                "event_ts": _to_ts(ts[keep]),
                "channel": _cat(chan[keep], chans),
            }
        )
        return pd.concat([df, self._visitors(names, chans)], ignore_index=True)

    def _visitors(self, names, chans) -> pd.DataFrame:
        """Anonymous visitors who never sign up (ids V...), more of them on the web."""
        rng = self.rng
        online = list(_VISITORS_PER_SIGNUP)
        per = np.array([_VISITORS_PER_SIGNUP[c] for c in online])
        k = rng.poisson(per.sum() / len(online) * self.n)
        self.n_visitors = k
        ch = rng.choice(len(online), k, p=per / per.sum())
        day = np.floor(_N_DAYS * rng.random(k) ** (1 / 1.3))
        visits = 1 + rng.poisson(0.4, k)
        rep = np.repeat(np.arange(k), visits)
        t = _time_of_day(rng, day[rep] + rng.exponential(5, rep.size), np.zeros(rep.size, bool))
        keep = t < _N_DAYS
        ch_codes = np.array([chans.index(c) for c in online])[ch[rep]]
        return pd.DataFrame(
            {
                "cidx": rep[keep] + 1,  # numbered per chunk; build_demo adds the offset
                "visitor": np.ones(keep.sum(), bool),
                "event_name": _cat(np.zeros(keep.sum(), int), names),
                "event_ts": _to_ts(t[keep]),
                "channel": _cat(ch_codes[keep], chans),
            }
        )

    # ---- feedback ---------------------------------------------------------------------
    def feedback(self) -> pd.DataFrame:
        rng = self.rng
        b = np.flatnonzero(self.buyer)
        churned = np.isfinite(self.death[b]) & (self.death[b] < _N_DAYS - 60)
        # Complaints: 1 in 4 of the customers who later churn, shortly before they stop.
        p_c = np.where(churned, 0.25, 0.05) + np.where(self.decliner[b], 0.05, 0)
        c = rng.random(b.size) < p_c
        lo = self.t0[b][c]
        hi = np.where(churned[c], self.death[b][c], _N_DAYS)
        c_t = np.where(
            churned[c],
            np.maximum(hi - rng.uniform(0, 40, c.sum()), lo),
            lo + rng.random(c.sum()) * (hi - lo),
        )
        c_t = _time_of_day(rng, c_t, np.zeros(c_t.size, bool))
        c_score = (
            np.where(
                churned[c],
                rng.choice(5, c.sum(), p=[0.35, 0.3, 0.2, 0.1, 0.05]),
                rng.choice(5, c.sum(), p=[0.1, 0.15, 0.25, 0.3, 0.2]),
            )
            + 1.0
        )
        c_text = np.array(_COMPLAINTS, dtype=object)[rng.integers(0, len(_COMPLAINTS), c.sum())]
        # NPS surveys: a quarter of buyers answer one; future churners score lower.
        s = rng.random(b.size) < 0.25
        s_t = self.t0[b][s] + rng.uniform(7, 240, s.sum())
        s_mean = np.where(churned[s], 5.8, 8.3) - np.where(self.decliner[b][s], 1.2, 0.0)
        s_score = np.clip(np.round(rng.normal(s_mean, 1.8)), 0, 10)
        s_text = np.where(
            s_score >= 9,
            np.array(_PRAISE, dtype=object)[rng.integers(0, len(_PRAISE), s.sum())],
            np.where(
                s_score >= 7,
                np.array(_NEUTRAL, dtype=object)[rng.integers(0, len(_NEUTRAL), s.sum())],
                np.array(_DETRACT, dtype=object)[rng.integers(0, len(_DETRACT), s.sum())],
            ),
        )
        s_text = np.where(rng.random(s.sum()) < 0.45, None, s_text)
        df = pd.DataFrame(
            {
                "cidx": np.concatenate([b[c], b[s]]) + self.offset + 1,
                "created_ts": _to_ts(
                    np.concatenate([c_t, _time_of_day(rng, s_t, np.zeros(s_t.size, bool))])
                ),
                "kind": _cat(
                    np.r_[np.zeros(c.sum(), int), np.ones(s.sum(), int)], ["complaint", "survey"]
                ),
                "score": np.concatenate([c_score, s_score]),
                "text": np.concatenate([c_text, s_text]),
            }
        )
        return df[df["created_ts"] < _to_ts(np.array([_N_DAYS]))[0]]


def _zipf(k: int) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** 0.8
    return w / w.sum()


def _id_width(customers: int) -> int:
    return max(6, len(str(customers)))


def build_demo(path: str | os.PathLike, *, customers: int = 20_000, seed: int = 42) -> dict:
    """Write the synthetic ``demo-retail`` dataset (all five tables) to ``path``, atomically.

    Deterministic for ``(customers, seed)``. Returns row counts per table plus ``seconds``.
    Money is in CNY (stored as the ``currency`` setting).
    """
    if customers < 10:
        raise UsageError("--customers must be at least 10.")
    began = time.perf_counter()
    width = _id_width(customers)
    cust_id = f"'C' || lpad(cast(cidx as varchar), {int(width)}, '0')"
    visitor_id = f"'V' || lpad(cast(cidx as varchar), {int(width) + 1}, '0')"
    seeds = np.random.SeedSequence(seed)
    n_chunks = -(-customers // _CHUNK)
    children = seeds.spawn(n_chunks)
    dup_pairs = []
    with store.write_dataset(path, fresh=True) as con:
        for table, schema in SCHEMAS.items():
            cols = ", ".join(f"{store.quote_ident(c)} {t}" for c, t in schema.items())
            con.execute(f"create table {store.quote_ident(table)} ({cols})")
        order_offset = 0
        visitor_offset = 0
        for k in range(n_chunks):
            offset = k * _CHUNK
            n = min(_CHUNK, customers - offset)
            ch = _Chunk(np.random.default_rng(children[k]), offset, n, order_offset)
            cust = ch.customers()
            if hasattr(ch, "dup_pairs"):
                dup_pairs.append(ch.dup_pairs)
            ch.purchases()
            camp = ch.campaigns()
            tx = ch.transactions()
            order_offset += ch.order_count
            ev = ch.events()
            ev.loc[ev["visitor"], "cidx"] += visitor_offset
            visitor_offset += ch.n_visitors
            fb = ch.feedback()
            _insert(con, "customers", cust, {"customer_id": cust_id})
            _insert(
                con,
                "transactions",
                tx,
                {
                    "customer_id": cust_id,
                    "order_id": "'O' || lpad(cast(order_no as varchar), 9, '0')",
                },
            )
            _insert(
                con,
                "events",
                ev,
                {"customer_id": f"case when visitor then {visitor_id} else {cust_id} end"},
            )
            con.register("_camp", pa.Table.from_pandas(camp, preserve_index=False))
            con.register(
                "_tx",
                pa.Table.from_pandas(tx[["cidx", "order_ts", "amount"]], preserve_index=False),
            )
            # Outcome revenue = what the customer really spent in the 30-day window.
            con.execute(
                f"""
                insert into campaigns
                select {cust_id}, c.campaign, cast(c.variant as varchar), c.sent_ts,
                       c.channel, c.cost, c.converted,
                       case when c.converted then coalesce((
                           select round(sum(t.amount), 2) from _tx t
                           where t.cidx = c.cidx and t.order_ts >= c.sent_ts
                             and t.order_ts < c.window_end and t.amount > 0), 0) else 0 end
                from _camp c order by c.campaign, c.cidx
                """
            )
            con.unregister("_camp")
            con.unregister("_tx")
            _insert(con, "feedback", fb, {"customer_id": cust_id})
        store.set_setting(con, "currency", "CNY")
        store.set_setting(con, "dataset_kind", "demo")
        store.set_setting(
            con,
            "demo",
            {"customers": customers, "seed": seed, "history": [HISTORY_START, HISTORY_END]},
        )
        if dup_pairs:
            pairs = np.concatenate(dup_pairs)
            store.set_setting(
                con,
                "demo_planted_duplicates",
                [[f"C{a:0{width}d}", f"C{b:0{width}d}"] for a, b in pairs.tolist()],
            )
        counts = {
            t: con.execute(f"select count(*) from {store.quote_ident(t)}").fetchone()[0]
            for t in SCHEMAS
        }
    counts["seconds"] = round(time.perf_counter() - began, 2)
    return counts


def _insert(con, table: str, frame: pd.DataFrame, exprs: dict[str, str]) -> None:
    """Insert ``frame`` into ``table`` in canonical column order, casting every column."""
    # Arrow scans categoricals and timestamps about twice as fast as a pandas frame.
    con.register("_frame", pa.Table.from_pandas(frame, preserve_index=False))
    cols = ", ".join(
        f"cast({exprs.get(c, store.quote_ident(c))} as {t})" for c, t in SCHEMAS[table].items()
    )
    con.execute(f"insert into {store.quote_ident(table)} select {cols} from _frame")
    con.unregister("_frame")


def cdnow_path() -> Path:
    """The CDNow master file shipped inside the lifetimes package."""
    return Path(str(importlib.resources.files("lifetimes") / "datasets" / "CDNOW_master.txt"))


def build_cdnow(path: str | os.PathLike) -> dict:
    """Write the real CDNow purchase history (transactions only) to ``path``, atomically.

    Source: ``lifetimes/datasets/CDNOW_master.txt`` (23,570 customers who first bought in
    Q1 1997, purchases until June 1998; Fader & Hardie's CDNow sample). Columns: customer id,
    date YYYYMMDD, number of CDs, dollar value. ``customer_id`` keeps the file's text
    (``"00001"``), ``order_ts`` is midnight of the date, ``quantity`` the CD count, and there is
    no order id (each row is one customer-day). Money is USD.
    """
    began = time.perf_counter()
    frame = pd.read_csv(
        cdnow_path(),
        sep=r"\s+",
        header=0,
        names=["customer_id", "date", "quantity", "amount"],
        dtype={"customer_id": str, "date": str, "quantity": float, "amount": float},
    )
    frame["order_ts"] = pd.to_datetime(frame["date"], format="%Y%m%d").astype("datetime64[us]")
    with store.write_dataset(path, fresh=True) as con:
        schema = SCHEMAS["transactions"]
        cols = ", ".join(f"{store.quote_ident(c)} {t}" for c, t in schema.items())
        con.execute(f"create table transactions ({cols})")
        _insert(
            con,
            "transactions",
            frame[["customer_id", "order_ts", "amount", "quantity"]].assign(
                order_id=None, product=None, category=None, channel=None, discount=None
            ),
            {},
        )
        store.set_setting(con, "currency", "USD")
        store.set_setting(con, "dataset_kind", "cdnow")
        n_tx, n_cust = con.execute(
            "select count(*), count(distinct customer_id) from transactions"
        ).fetchone()
    return {
        "transactions": n_tx,
        "customers": n_cust,
        "seconds": round(time.perf_counter() - began, 2),
    }
