"""Style measures for the seed's "fit" criterion: hanja, period spellings, dialogue.

The offline corpus mixes 1920s–30s magazine transcriptions (period orthography, mixed hanja) with
stories in modern spelling. These pure functions make that difference measurable; the preprocess
stage uses them for the modernity threshold and ``reports/sources.json``.
"""

from __future__ import annotations

import re

# Period spellings (pre-1933 orthography and its 1930s habits) that modern prose never uses.
# Each entry is checked per eojeol (space-separated word). Chosen to be unambiguous: 잇다 alone can
# be modern 잇다 "to connect", so only forms like 잇섯/잇스/잇슴 count; 업다 "to carry" likewise.
PERIOD_SPELLINGS: dict[str, str] = {
    # 있다 written 잇다: 잇섯다, 잇스니, 잇슴, 잇는데 is ambiguous and left out
    "잇다(있다)": r"잇(?:섯|서|스|슴|습|슬|겟)",
    # 없다 written 업다: 업섯다, 업스니, 업는 (modern 업는 "carrying" is rare in prose)
    "업다(없다)": r"업(?:섯|서|스|슴|습|슬|겟|는)",
    # -였다 written -엿다: 하엿다, 되엿다, 보엿다
    "엿다(였다)": r"[하되보지주기]엿",
    # 하얏다 / 하얏스니
    "얏다(았다)": r"얏(?:다|스|고|슴|던)",
    # 않- written 안-: 안코, 안타, 안는 (aspirated forms only)
    "안코(않고)": r"안(?:코|케|치|타(?!까|깝|로))",
    # 많- written 만-: 만히, 만흔, 만타
    "만히(많이)": r"(?<!가)만(?:히|흔|흐|타|코)",
    # 좋- written 조-: 조흔, 조코, 조치 (조화 "harmony" excluded)
    "조흔(좋은)": r"조(?:흔|흐|코|키)(?!\w*[를가])",
    # 그렇게 written 그러케 / 이러케 / 저러케 / 어떠케
    "그러케(그렇게)": r"(?:그|이|저|어떠)러?(?:케|타|치)(?:[^가-힣]|$)",
    # 같- written 갓/갓흔/가튼
    "가튼(같은)": r"가(?:튼|티|트|흔)",
    # -습니다 written -슴니다 / -읍니다 (pre-1988 style is also period-like)
    "슴니다(습니다)": r"(?:슴|읍)니다",
    # 벌써 written 벌서, 어떤 written 엇던, 여기 written 여긔/거긔, 이야기 written 니약이/이약이
    "벌서(벌써)": r"(?:^|[^가-힣])벌서",
    "엇던(어떤)": r"엇(?:던|더)",
    "여긔(여기)": r"[여거저]긔",
    "니약이(이야기)": r"[이니]약이",
    # old palatal spellings: 뎌 됴 텨 쳐-like forms no longer used
    "뎌/됴(저/조)": r"[뎌됴텨툐]",
    # sai-siot and ㅅ-clusters written with a bare jamo ㅅ (물ㅅ결, 팔ㅅ장) or old-hangul jamo
    "ㅅ-cluster": r"[가-힣]ㅅ[가-힣]|[\u1113-\u115e\u1176-\u11a7\u11c3-\u11ff\u3165-\u318e]",
}

_PERIOD_RE = re.compile("|".join(f"(?:{p})" for p in PERIOD_SPELLINGS.values()))
_PERIOD_NAMED = {name: re.compile(p) for name, p in PERIOD_SPELLINGS.items()}
_HANGUL_WORD = re.compile(r"\S*[가-힣]\S*")
_HANJA = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HANGUL = re.compile(r"[가-힣\u1100-\u11ff\u3130-\u318f]")
DIALOGUE_OPENERS = "\"“『「'‘―"


def hanja_count(text: str) -> int:
    return len(_HANJA.findall(text))


def hangul_count(text: str) -> int:
    return len(_HANGUL.findall(text))


def hanja_ratio(text: str) -> float:
    """Hanja among Korean-script characters (hangul + hanja); 0.0 for text with neither."""
    hanja = hanja_count(text)
    total = hanja + hangul_count(text)
    return hanja / total if total else 0.0


def period_spelling_counts(text: str) -> tuple[int, int]:
    """(eojeols with at least one period spelling, eojeols with hangul)."""
    words = _HANGUL_WORD.findall(text)
    return sum(1 for w in words if _PERIOD_RE.search(w)), len(words)


def period_share(text: str) -> float:
    hits, words = period_spelling_counts(text)
    return hits / words if words else 0.0


def period_spelling_breakdown(text: str) -> dict[str, int]:
    """How often each named period spelling occurs in ``text`` (occurrences, for the report)."""
    return {name: sum(1 for _ in rx.finditer(text)) for name, rx in _PERIOD_NAMED.items()}


def is_dialogue(sentence: str) -> bool:
    """A sentence that opens with a quotation mark or a speech dash counts as dialogue."""
    s = sentence.lstrip()
    return bool(s) and s[0] in DIALOGUE_OPENERS
