"""A seeded, vectorised generator of card-transaction fraud data.

The project needs data that behaves like the real problem without shipping any:
a rare binary target, mixed numeric / categorical / time features, fraud that
depends on several features non-linearly (so a tree model learns it well but not
perfectly), and a ``shift`` knob that moves the distributions so the monitoring
pipeline has real drift to find.

Everything is plain numpy on whole columns (no per-row Python), with compact
dtypes and pandas ``category`` columns, so 10 million rows fit in a few seconds
and well under 2 GB. Every bound the generator guarantees is declared once in
``_NUMERIC_BOUNDS`` / ``_CATEGORIES`` and used both to clip the data and to build
:func:`fraud_feature_specs`, so the validation rules can never disagree with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from configs.schema import FeatureSpec

FRAUD_TARGET = "is_fraud"

F32 = npt.NDArray[np.float32]
Codes = npt.NDArray[np.int8]
#: One generated column; columns differ in dtype (float32, int8, int16, int32).
Column = npt.NDArray[Any]

MERCHANT_CATEGORIES = (
    "grocery",
    "gas_station",
    "restaurant",
    "retail",
    "health",
    "travel",
    "entertainment",
    "electronics",
    "jewelry",
    "online_retail",
    "digital_goods",
    "gambling",
    "cash_withdrawal",
)
CHANNELS = ("pos", "online", "atm")
#: The issuer's home country comes first; every other country counts as foreign.
COUNTRIES = ("US", "CA", "MX", "GB", "DE", "FR", "ES", "BR", "IN", "CN", "NG", "RU", "RO", "PH")
CARD_TYPES = ("debit", "credit", "prepaid")

_CATEGORIES: dict[str, tuple[str, ...]] = {
    "merchant_category": MERCHANT_CATEGORIES,
    "channel": CHANNELS,
    "country": COUNTRIES,
    "card_type": CARD_TYPES,
}

# Bounds are exactly representable in float32, so a float32 value clipped to a
# bound compares equal to the float the validation rule holds.
_NUMERIC_BOUNDS: dict[str, tuple[float, float]] = {
    "amount": (0.5, 25_000.0),
    "avg_amount_30d": (1.0, 5_000.0),
    "amount_to_avg_ratio": (0.0, 1_000.0),
    "card_present": (0.0, 1.0),
    "is_foreign": (0.0, 1.0),
    "distance_from_home_km": (0.0, 20_000.0),
    "hour_of_day": (0.0, 23.0),
    "day_of_week": (0.0, 6.0),
    "account_age_days": (0.0, 3_650.0),
    "customer_age": (18.0, 95.0),
    "txn_count_24h": (0.0, 150.0),
    "minutes_since_last_txn": (0.0, 43_200.0),
    "failed_attempts_24h": (0.0, 10.0),
    "device_score": (0.0, 1.0),
}

#: Column order of the generated frame (features, then the target).
FEATURE_COLUMNS = (
    "amount",
    "avg_amount_30d",
    "amount_to_avg_ratio",
    "merchant_category",
    "channel",
    "card_present",
    "card_type",
    "country",
    "is_foreign",
    "distance_from_home_km",
    "hour_of_day",
    "day_of_week",
    "account_age_days",
    "customer_age",
    "txn_count_24h",
    "minutes_since_last_txn",
    "failed_attempts_24h",
    "device_score",
)

# Merchant mix per channel (rows: pos, online, atm; columns: MERCHANT_CATEGORIES).
_MERCHANT_BY_CHANNEL = np.array(
    [
        [24, 14, 18, 16, 7, 4, 6, 5, 2, 0, 0, 1, 0],
        [3, 0, 5, 5, 2, 12, 10, 15, 3, 30, 12, 3, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    ],
    dtype=np.float64,
)
# Typical spend relative to the customer's 30-day average, per merchant category.
_MERCHANT_AMOUNT_FACTOR = np.array(
    [0.9, 0.7, 0.6, 1.2, 1.0, 4.0, 0.8, 3.0, 5.0, 1.1, 0.3, 1.5, 2.0], dtype=np.float32
)
# Log-odds contribution of each merchant category to fraud.
_MERCHANT_RISK = np.array(
    [-0.6, 0.2, -0.5, 0.0, -0.7, 0.4, 0.0, 0.9, 1.0, 0.5, 0.8, 0.9, 0.3], dtype=np.float32
)
# Foreign-country mix (COUNTRIES[1:]) and typical distance from home in km.
_FOREIGN_MIX = np.array([20, 15, 12, 8, 8, 6, 6, 6, 6, 5, 4, 2, 2], dtype=np.float64)
_FOREIGN_DISTANCE_KM = np.array(
    [0, 800, 2500, 5500, 6500, 6200, 6000, 7500, 12500, 11000, 9500, 8000, 7800, 13500],
    dtype=np.float32,
)
_HIGH_RISK_COUNTRY = np.array(
    [c in {"BR", "NG", "RU", "RO", "PH"} for c in COUNTRIES], dtype=np.float32
)
# Diurnal activity profile (hour 0..23); shift mixes in a profile six hours later.
# fmt: off
_HOUR_PROFILE = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4, 4.3, 4.8,
     5.5, 5.2, 4.6, 4.4, 4.6, 5.2, 5.8, 5.5, 4.6, 3.6, 2.6, 1.6],
    dtype=np.float64,
)
_HOUR_RISK = np.array(
    [1.0, 1.2, 1.3, 1.3, 1.1, 0.7, 0.2, 0, 0, 0, 0, 0,
     0, 0, 0, 0, 0, 0, 0, 0, 0, 0.1, 0.3, 0.6],
    dtype=np.float32,
)
# fmt: on
# How sharply risk separates fraud from noise: tuned so a gradient-boosting model
# on 50k rows reaches ROC AUC of about 0.93 (an oracle on the true risk ~0.95).
_RISK_SCALE = np.float32(1.8)
_HIDDEN_NOISE = np.float32(0.7)
_CODE_CELLS = 1 << 16
_DAY_PROFILE = np.array([14, 14, 14, 14, 16, 15, 13], dtype=np.float64)


def fraud_feature_specs() -> list[FeatureSpec]:
    """The generator's contract as validation rules: kinds, true bounds, categories.

    The bounds hold for every ``shift``, so a config can validate synthetic data
    (reference or drifted) with these rules and only real bugs fail.
    """
    specs = []
    for name in FEATURE_COLUMNS:
        if name in _CATEGORIES:
            specs.append(
                FeatureSpec(name=name, kind="categorical", allowed=list(_CATEGORIES[name]))
            )
        else:
            low, high = _NUMERIC_BOUNDS[name]
            specs.append(FeatureSpec(name=name, kind="numeric", min=low, max=high))
    return specs


def generate_transactions(
    rows: int, seed: int = 42, fraud_rate: float = 0.01, shift: float = 0.0
) -> pd.DataFrame:
    """Generate ``rows`` card transactions with a binary ``is_fraud`` target.

    The same arguments always give an identical frame. ``fraud_rate`` is the
    share of positives at ``shift=0``; ``shift`` in [0, 1] makes amounts grow,
    moves activity online, abroad and later in the day, makes accounts younger
    and velocity higher, and raises the fraud rate by up to 60 %.
    """
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    if not 0.0 < fraud_rate < 1.0:
        raise ValueError(f"fraud_rate must be in (0, 1), got {fraud_rate}")
    if not 0.0 <= shift <= 1.0:
        raise ValueError(f"shift must be in [0, 1], got {shift}")
    rng = np.random.default_rng(seed)
    s = float(shift)
    cols: dict[str, Column] = {}

    channel = _sample_codes(rng, _channel_mix(s), rows)
    merchant = _merchants(rng, channel)
    card_present = _card_present(rng, channel)
    country = _countries(rng, channel, s)
    is_foreign = (country != 0).astype(np.int8)
    cols["avg_amount_30d"] = _clip(
        "avg_amount_30d", 55.0 * np.exp(0.5 * s + 0.7 * _normal(rng, rows))
    )
    cols["amount"] = _amounts(rng, cols["avg_amount_30d"], merchant, channel, s)
    cols["amount_to_avg_ratio"] = _clip(
        "amount_to_avg_ratio", cols["amount"] / cols["avg_amount_30d"]
    )
    cols["card_present"] = card_present
    cols["is_foreign"] = is_foreign
    cols["distance_from_home_km"] = _distances(rng, country, s)
    cols["hour_of_day"] = _sample_codes(rng, _hour_mix(s), rows)
    cols["day_of_week"] = _sample_codes(rng, _DAY_PROFILE, rows)
    cols["account_age_days"] = _account_ages(rng, rows, s)
    cols["customer_age"] = _clip("customer_age", 44.0 + 15.0 * _normal(rng, rows)).astype(np.int8)
    cols["txn_count_24h"], cols["minutes_since_last_txn"] = _velocity(rng, rows, s)
    cols["failed_attempts_24h"] = _failed_attempts(rng, rows, s)
    cols["device_score"] = _device_scores(rng, channel, s)
    card_type = _sample_codes(rng, np.array([45.0, 50.0, 5.0 + 15.0 * s]), rows)

    risk = _fraud_risk(cols, merchant, channel, country, card_type)
    target_rate = min(fraud_rate * (1.0 + 0.6 * s), 0.5)
    labels = _fraud_labels(rng, risk, target_rate)

    codes = {
        "merchant_category": merchant,
        "channel": channel,
        "country": country,
        "card_type": card_type,
    }
    data: dict[str, object] = {}
    for name in FEATURE_COLUMNS:
        if name in codes:
            data[name] = pd.Categorical.from_codes(codes[name], categories=list(_CATEGORIES[name]))
        else:
            data[name] = cols[name]
    data[FRAUD_TARGET] = labels
    return pd.DataFrame(data, copy=False)


def _normal(rng: np.random.Generator, n: int) -> F32:
    return rng.standard_normal(n, dtype=np.float32)


def _uniform(rng: np.random.Generator, n: int) -> F32:
    return rng.random(n, dtype=np.float32)


def _clip(name: str, values: npt.NDArray[Any]) -> F32:
    """Clip to the declared bounds, so fraud_feature_specs() is a guarantee."""
    low, high = _NUMERIC_BOUNDS[name]
    return np.clip(values, low, high).astype(np.float32, copy=False)


def _sample_codes(rng: np.random.Generator, weights: npt.NDArray[np.float64], n: int) -> Codes:
    """Draw category codes from unnormalised weights, as a table lookup.

    Probabilities are quantised to 1/65536 (far below any sampling noise) so each
    draw is one uint16 and one gather; a searchsorted per row was 5x slower.
    """
    cdf = np.cumsum(weights / weights.sum())
    cells = (np.arange(_CODE_CELLS, dtype=np.float64) + 0.5) / _CODE_CELLS
    table = np.minimum(np.searchsorted(cdf, cells, side="right"), len(weights) - 1)
    draws = rng.integers(0, _CODE_CELLS, n, dtype=np.uint16, endpoint=False)
    return table.astype(np.int8)[draws]


def _channel_mix(s: float) -> npt.NDArray[np.float64]:
    online = 0.30 + 0.55 * s
    atm = 0.08 * (1.0 - 0.5 * s)
    return np.array([1.0 - online - atm, online, atm])


def _hour_mix(s: float) -> npt.NDArray[np.float64]:
    return (1.0 - 0.8 * s) * _HOUR_PROFILE + 0.8 * s * np.roll(_HOUR_PROFILE, 6)


def _merchants(rng: np.random.Generator, channel: Codes) -> Codes:
    """Merchant category conditional on the channel (an ATM is always cash)."""
    merchant = np.empty(channel.shape, dtype=np.int8)
    for code, weights in enumerate(_MERCHANT_BY_CHANNEL):
        mask = channel == code
        merchant[mask] = _sample_codes(rng, weights, int(mask.sum()))
    return merchant


def _card_present(rng: np.random.Generator, channel: Codes) -> npt.NDArray[np.int8]:
    """Card present at POS and ATM, except ~3 % manually keyed POS payments."""
    keyed = _uniform(rng, channel.size) < 0.03
    present = (channel == CHANNELS.index("atm")) | ((channel == CHANNELS.index("pos")) & ~keyed)
    return present.astype(np.int8)


def _countries(rng: np.random.Generator, channel: Codes, s: float) -> Codes:
    """Mostly the home country; abroad more often online and as shift grows."""
    n = channel.size
    base = np.array([0.04, 0.15, 0.03], dtype=np.float32)[channel]
    foreign = _uniform(rng, n) < base + np.float32(0.25 * s)
    abroad = _sample_codes(rng, _FOREIGN_MIX, n) + np.int8(1)
    return np.where(foreign, abroad, np.int8(0)).astype(np.int8)


def _amounts(rng: np.random.Generator, avg: F32, merchant: Codes, channel: Codes, s: float) -> F32:
    """Amount = the customer's average x merchant factor x noise; ATM in 20s."""
    noise = np.exp(np.float32(0.5 * s) + np.float32(0.8) * _normal(rng, avg.size))
    amount = avg * _MERCHANT_AMOUNT_FACTOR[merchant] * noise
    atm = channel == CHANNELS.index("atm")
    amount[atm] = np.maximum(np.round(amount[atm] / 20.0) * 20.0, 20.0)
    return _clip("amount", np.round(amount, 2))


def _distances(rng: np.random.Generator, country: Codes, s: float) -> F32:
    """Local spending a few km from home; abroad the country's typical distance."""
    n = country.size
    local = 8.0 * np.exp(np.float32(0.7 * s) + np.float32(1.1) * _normal(rng, n))
    abroad = _FOREIGN_DISTANCE_KM[country] * np.exp(np.float32(0.25) * _normal(rng, n))
    return _clip("distance_from_home_km", np.where(country == 0, local, abroad))


def _account_ages(rng: np.random.Generator, n: int, s: float) -> npt.NDArray[np.int32]:
    """Long-lived accounts plus a slice of brand-new ones (bigger under shift)."""
    ages = rng.standard_exponential(n, dtype=np.float32) * np.float32(1100.0 * (1.0 - 0.4 * s))
    new = _uniform(rng, n) < 0.06 + 0.10 * s
    ages = np.where(new, _uniform(rng, n) * np.float32(60.0), ages)
    return _clip("account_age_days", ages).astype(np.int32)


def _velocity(rng: np.random.Generator, n: int, s: float) -> tuple[npt.NDArray[np.int16], F32]:
    """Transactions in the last 24 h (with bursts) and minutes since the last one."""
    count = rng.poisson(1.5 + 1.5 * s, n)
    burst = _uniform(rng, n) < 0.03
    count[burst] += rng.poisson(8.0, int(burst.sum()))
    count16 = _clip("txn_count_24h", count).astype(np.int16)
    mean_gap = np.float32(1440.0 * (1.0 - 0.3 * s)) / (count16 + np.float32(1.0))
    gap = rng.standard_exponential(n, dtype=np.float32) * mean_gap
    return count16, _clip("minutes_since_last_txn", np.round(gap, 1))


def _failed_attempts(rng: np.random.Generator, n: int, s: float) -> npt.NDArray[np.int8]:
    """PIN/CVV failures: almost always 0, occasionally a handful."""
    fails = rng.poisson(0.08 + 0.25 * s, n)
    retry = _uniform(rng, n) < 0.01
    fails[retry] += rng.poisson(2.0, int(retry.sum()))
    return _clip("failed_attempts_24h", fails).astype(np.int8)


def _device_scores(rng: np.random.Generator, channel: Codes, s: float) -> F32:
    """Device risk score in [0, 1] (logit-normal): low for card-present, higher online."""
    online = channel == CHANNELS.index("online")
    centre = np.where(online, np.float32(-1.0 + 0.5 * s), np.float32(-2.2 + 0.3 * s))
    logit = centre + np.float32(0.9) * _normal(rng, channel.size)
    return _clip("device_score", np.float32(1.0) / (np.float32(1.0) + np.exp(-logit)))


def _fraud_risk(
    cols: dict[str, Column],
    merchant: Codes,
    channel: Codes,
    country: Codes,
    card_type: Codes,
) -> F32:
    """Fraud log-odds from the features: thresholds, saturation and interactions."""
    f32 = np.float32
    online = channel == CHANNELS.index("online")
    ratio = cols["amount_to_avg_ratio"].astype(np.float32)
    new_account = np.exp(-cols["account_age_days"].astype(np.float32) / f32(45.0))
    device = cols["device_score"].astype(np.float32)
    count = cols["txn_count_24h"].astype(np.float32)
    amount = cols["amount"].astype(np.float32)
    age = cols["customer_age"]

    risk = _MERCHANT_RISK[merchant].copy()
    risk += f32(1.3) * np.clip(np.log(np.maximum(ratio, f32(1e-3))) - f32(1.0), 0.0, 3.0)
    risk += _HOUR_RISK[cols["hour_of_day"]] * np.where(online, f32(1.5), f32(1.0))
    risk += f32(1.6) * new_account
    risk += np.where(online, f32(3.5) * np.clip(device - f32(0.4), 0.0, 0.6), f32(0.0))
    risk += f32(1.5) * (online & (device > 0.5) & (new_account > 0.3))
    risk += f32(0.9) * np.clip((count - f32(4.0)) / f32(4.0), 0.0, 2.5)
    risk += f32(0.8) * (cols["minutes_since_last_txn"] < 3.0)
    risk += f32(0.6) * np.minimum(cols["failed_attempts_24h"], 4).astype(np.float32)
    risk += f32(0.5) * cols["is_foreign"] + f32(1.0) * _HIGH_RISK_COUNTRY[country]
    risk += f32(1.0) * ((cols["card_present"] == 0) & ~online)
    risk += f32(1.2) * ((amount < 3.0) & (np.isin(merchant, [1, 10])))
    risk += np.array([0.0, 0.15, 0.7], dtype=np.float32)[card_type]
    risk += f32(0.6) * (age > 72) + f32(0.3) * (age < 22)
    return risk


def _fraud_labels(rng: np.random.Generator, risk: F32, rate: float) -> npt.NDArray[np.int8]:
    """Label the ``rate`` share of rows with the highest risk + noise as fraud.

    The noise (logistic, like a logit model, plus a hidden Gaussian factor) keeps
    the problem learnable but imperfect; thresholding a quantile hits the rate
    exactly, where calibrating an intercept would only approximate it.
    """
    n = risk.size
    positives = round(n * rate)
    if positives == 0:
        return np.zeros(n, dtype=np.int8)
    eps = np.float32(1e-7)
    u = np.clip(_uniform(rng, n), eps, np.float32(1.0) - eps)
    logistic = np.log(u / (np.float32(1.0) - u))
    latent = _RISK_SCALE * risk + logistic + _HIDDEN_NOISE * _normal(rng, n)
    threshold = np.partition(latent, n - positives)[n - positives]
    return (latent >= threshold).astype(np.int8)
