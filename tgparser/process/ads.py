"""Advertising markers, precision first: a post is an ad when it carries a marker that paid
posts carry, never because it talks about advertising.

Strong markers (one is enough):
- an `erid` token, in the text or in a link's query: Russian advertising law (since September
  2022) requires it on every paid post;
- a standalone «Реклама» line (or `Реклама. ООО …, ИНН …` — the label the law asks for);
- an advertiser's ИНН (labelled ИНН, 10 or 12 digits) whose checksum is valid;
- `#реклама`, `#ad`, `#ads`, `#sponsored`, `#промо`, «на правах рекламы», «партнёрский пост»;
- a promo code (`промокод SALE20`, `promo code SAVE10`).
Weak markers (two are needed): a referral link (`?ref=…`, `start=ref…`, `/ref/…`).

Each reason names its evidence, e.g. `erid token 2VtzqvAbc in the text`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

_ERID_TEXT = re.compile(r"(?i)(?<![\w/=&?])erid\s*[:=\-–—]?\s*([A-Za-z0-9]{6,})")
_AD_LINE = re.compile(
    r"(?im)^[^\w\n#]*(?:реклама|рекламa|advertisement|sponsored|спонсорский пост|"
    r"рекламный пост|партн[её]рский пост|промо)[^\w\n]*$"
)
_AD_LABEL_LINE = re.compile(r"(?im)^[^\w\n]*реклама\s*[.:,|/\-–—][^\n]*")
_ADVERTISER = re.compile(r"(?i)\b(?:инн|огрн|ооо|ип|ао|erid)\b")
_INN = re.compile(r"(?i)\bинн\s*[:№#]?\s*(\d{10}|\d{12})\b")
_AD_HASHTAGS = frozenset(
    {"#реклама", "#ad", "#ads", "#sponsored", "#промо", "#рекламa", "#partner", "#партнерство"}
)
_AD_PHRASE = re.compile(r"(?i)на\s+правах\s+рекламы|партн[её]рский\s+(?:пост|материал)")
_PROMO = re.compile(
    r"(?i)(?:промокод[уа]?|промо-код[уа]?|promo\s?code|coupon\s+code|use\s+code)"
    r"\s*[:«\"'“]?\s*([A-Z0-9][A-Z0-9_\-]{3,19})\b"
)
_REF_PARAMS = frozenset({"ref", "referral", "refcode", "ref_id", "invite_code", "aff", "affiliate"})
_REF_START = re.compile(r"(?i)^(?:ref|r_|invite)[\w\-]*")
_REF_PATH = re.compile(r"(?i)/(?:ref|referral|invite)/[\w\-]+")


def ad_reasons(
    text: str, urls: list[dict[str, str]], hashtags: list[str], lower: str | None = None
) -> list[str]:
    """The evidence that a message is an ad; it is one when this is not empty. `lower` is
    `text.lower()` when the caller has it already."""
    strong: list[str] = []
    weak: list[str] = []
    if lower is None:
        lower = text.lower()  # each pattern runs only when its key word is there at all
    for match in _ERID_TEXT.finditer(text) if "erid" in lower else ():
        token = match.group(1)
        # Real tokens mix case and digits (2VtzqxWkB9U); prose after "erid" is a word.
        if any(c.isdigit() for c in token) or any(c.isupper() for c in token[1:]):
            strong.append(f"erid token {token} in the text")
            break
    for item in urls:
        url = item["url"]
        if "?" not in url and "/ref" not in url and "/invite" not in url:
            continue
        try:
            parts = urlsplit(url)
            query = parse_qsl(parts.query, keep_blank_values=True)
        except ValueError:
            continue
        params = {k.lower(): v for k, v in query}
        if params.get("erid"):
            strong.append(f"erid={params['erid']} in the link {url}")
        if (
            any(params.get(p) for p in _REF_PARAMS)
            or _REF_PATH.search(parts.path)
            or (params.get("start") and _REF_START.match(params["start"]))
        ):
            weak.append(f"referral link {url}")
    partner = "партн" in lower
    promo_word = "промо" in lower
    markers = "реклам" in lower or "advertis" in lower or "sponsored" in lower or "спонсор" in lower
    line = _AD_LINE.search(text) if markers or partner or promo_word else None
    if line:
        strong.append(f"ad marker line «{line.group(0).strip()}»")
    elif "реклама" in lower:
        for label in _AD_LABEL_LINE.finditer(text):
            if _ADVERTISER.search(label.group(0)):
                strong.append(f"ad label «{label.group(0).strip()[:120]}»")
                break
    for match in _INN.finditer(text) if "инн" in lower else ():
        if valid_inn(match.group(1)):
            strong.append(f"advertiser ИНН {match.group(1)} (valid checksum)")
            break
    tags = [t for t in hashtags if t.casefold() in _AD_HASHTAGS]
    if tags:
        strong.append(f"hashtag {tags[0]}")
    phrase = _AD_PHRASE.search(text) if partner or "на правах" in lower else None
    if phrase:
        strong.append(f"«{phrase.group(0)}»")
    promo_words = promo_word or "promo" in lower or "coupon" in lower or "code" in lower
    promo = _PROMO.search(text) if promo_words else None
    if promo and any(c.isdigit() for c in promo.group(1)) | promo.group(1).isupper():
        strong.append(f"promo code {promo.group(1)}")
    if strong:
        return strong + weak
    return weak if len(weak) >= 2 else []


def valid_inn(inn: str) -> bool:
    """A Russian taxpayer number (ИНН) with a valid check digit: 10 digits for organisations,
    12 for individuals and sole traders."""
    if not inn.isdigit() or len(inn) not in (10, 12):
        return False
    digits = [int(c) for c in inn]

    def check(weights: tuple[int, ...]) -> int:
        return sum(w * d for w, d in zip(weights, digits, strict=False)) % 11 % 10

    if len(inn) == 10:
        return check((2, 4, 10, 3, 5, 9, 4, 6, 8)) == digits[9]
    return (
        check((7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == digits[10]
        and check((3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)) == digits[11]
    )
