"""Query-side expansion of a predicate written in dictionary form (듣다, 쓰다, 담대하다).

Nori reads a verb or adjective through mecab-ko-dic, and the dictionary form is not always read like
its inflections: 듣다 is read 들 while 들었다/들으며 are read 듣, and 쓰다 is read 쓸 while 썼다/써서 are
read 쓰. A theme written in dictionary form then misses its own inflections. So the theme is probed:
the stem is conjugated (a small jamo-level conjugator, regular and ㄷ/ㅂ/ㅅ/르/ㅎ-irregular variants,
으 dropping and vowel contraction), each form is analysed by the backend's own analyzer (Lucene Nori,
or Elasticsearch ``_analyze``), and every form read as other stem terms than the theme itself is added
to the theme as an alternative, OR-ed with the same weight, like a synonym the user could have written.

Precision: a form is kept only if every token Nori leaves of it is a predicate stem, never an ending
or particle, and Nori reads it back as this very stem (or as the root of a 하다 predicate: 담대해서 ->
담대). The conjugator guesses irregular classes from the stem's shape only; Nori's dictionary decides:
믿다's ㄷ-irregular guess 밀었다 is read 밀 (another verb) and dropped, 듣다's 들었다 is read 듣 and kept.
Misreadings are dropped the same way (그리워하던 is read 그립 + 않, so it adds nothing).

Every stage that searches by a theme (query, generate's lorebook and lexicon, compose, the app's
Search page) goes through ``search.theme_query.theme_hits`` and so through ``search_theme_text``, with the theme's
configured synonyms and switches: a theme finds the same passages everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from .analysis import is_ending
from .base import Hit, SearchBackend, ThemeQuery, Token
from .plan import INFLECTED, SYNONYM, THEME, plan_clauses

# Tags of a predicate stem, and of the noun or root before the 하 of a 하다 predicate (담대/NNG 하다).
PREDICATE_TAGS = frozenset({"VV", "VA", "VX", "VCP", "VCN", "XSV", "XSA"})
ROOT_TAGS = frozenset({"NNG", "NNP", "XR"})
STEM_TAGS = PREDICATE_TAGS | ROOT_TAGS

Analyze = Callable[[str], list[Token]]

# -- hangul syllables as (initial, vowel, final) jamo indices ------------------------------------

_BASE, _LAST = 0xAC00, 0xD7A3
# vowels
V_A, V_AE, V_YA, V_YAE, V_EO, V_E, V_YEO, V_YE, V_O, V_WA, V_WAE, V_OE = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
V_U, V_WO, V_EU, V_I = 13, 14, 18, 20
# finals
NO_FINAL, F_N, F_D, F_L, F_B, F_S, F_SS, F_H = 0, 4, 7, 8, 17, 19, 20, 27
# initials
L_R, L_H = 5, 18

Syllable = tuple[int, int, int]


def is_hangul(text: str) -> bool:
    return bool(text) and all(_BASE <= ord(ch) <= _LAST for ch in text)


def split_syllables(text: str) -> list[Syllable]:
    out = []
    for ch in text:
        code = ord(ch) - _BASE
        out.append((code // 588, (code % 588) // 28, code % 28))
    return out


def join_syllables(syllables: Iterable[Syllable]) -> str:
    return "".join(chr(_BASE + (lead * 21 + vowel) * 28 + final) for lead, vowel, final in syllables)


def with_final(syllables: list[Syllable], final: int) -> list[Syllable]:
    lead, vowel, _ = syllables[-1]
    return [*syllables[:-1], (lead, vowel, final)]


def is_bright(vowel: int) -> bool:
    """ㅏ ㅗ ㅑ take 아; every other vowel takes 어 (vowel harmony)."""
    return vowel in (V_A, V_O, V_YA)


# -- the conjugator -------------------------------------------------------------------------------


def eo_form(stem: list[Syllable]) -> str:
    """The regular 어/아 form (들어 is irregular; this gives 먹어, 가, 봐, 줘, 돼, 마셔, 써, 슬퍼, 해)."""
    lead, vowel, final = stem[-1]
    if (lead, vowel, final) == (L_H, V_A, NO_FINAL):  # 하 + 여 -> 해
        return join_syllables([*stem[:-1], (L_H, V_AE, NO_FINAL)])
    bright = is_bright(vowel)
    if final != NO_FINAL:
        return join_syllables(stem) + ("아" if bright else "어")
    if vowel == V_EU:  # 으 drops; harmony comes from the syllable before (아파, 슬퍼, 써)
        bright = len(stem) > 1 and is_bright(stem[-2][1])
        return join_syllables([*stem[:-1], (lead, V_A if bright else V_EO, NO_FINAL)])
    contracted = {V_O: V_WA, V_U: V_WO, V_OE: V_WAE, V_I: V_YEO}.get(vowel)
    if contracted is not None:
        return join_syllables([*stem[:-1], (lead, contracted, NO_FINAL)])
    if vowel in (V_A, V_EO, V_AE, V_E, V_YEO):  # 가+아 -> 가, 서+어 -> 서, 보내+어 -> 보내
        return join_syllables(stem)
    return join_syllables(stem) + ("아" if bright else "어")  # 쉬어, 띄어


def eo_probes(eo: str) -> list[str]:
    """어, 어서 and 었다 on an 어/아 form (its last syllable is open: 써 -> 썼다)."""
    past = join_syllables(with_final(split_syllables(eo), F_SS)) + "다"
    return [past, eo + "서", eo]


def eu_probes(stem: list[Syllable], keep_final: bool = False) -> list[str]:
    """은/ㄴ, 으면/면, 으며/며: 먹은 먹으면; 쓴 쓰면; ㄹ drops before ㄴ (산, 살면).

    ``keep_final``: the stem's final consonant stays and takes 으 (들은, 들으면 of ㄷ-irregular 듣다).
    """
    final = stem[-1][2]
    text = join_syllables(stem)
    if final == NO_FINAL:
        return [join_syllables(with_final(stem, F_N)), text + "면", text + "며"]
    if final == F_L and not keep_final:
        return [join_syllables(with_final(stem, F_N)), text + "면", text + "며"]
    return [text + "은", text + "으면", text + "으며"]


def consonant_probes(stem: list[Syllable]) -> list[str]:
    """고, 는, 던: endings no irregular class touches (ㄹ drops before 는: 사는)."""
    text = join_syllables(stem)
    neun = join_syllables(with_final(stem, NO_FINAL)) + "는" if stem[-1][2] == F_L else text + "는"
    return [text + "고", neun, text + "던"]


def irregular_vowel_probes(stem: list[Syllable]) -> list[str]:
    """Vowel-ending forms of every irregular class the stem's shape allows (Nori decides which is real)."""
    lead, vowel, final = stem[-1]
    probes: list[str] = []
    if final == F_D:  # ㄷ: 듣 -> 들어, 들었다, 들은
        altered = with_final(stem, F_L)
        probes += eo_probes(join_syllables(altered) + ("아" if is_bright(vowel) else "어"))
        probes += eu_probes(altered, keep_final=True)
    if final == F_S:  # ㅅ: 짓 -> 지어, 지은 (the vowels do not contract)
        bare = join_syllables(with_final(stem, NO_FINAL))
        probes += eo_probes(bare + ("아" if is_bright(vowel) else "어"))
        probes += [bare + "은", bare + "으면", bare + "으며"]
    if final == F_B:  # ㅂ: 아름답 -> 아름다워, 아름다운 (돕/곱 -> 도와, 고와)
        bare = join_syllables(with_final(stem, NO_FINAL))
        probes += eo_probes(bare + ("와" if len(stem) == 1 and vowel == V_O else "워"))
        probes += [bare + "운", bare + "우면", bare + "우며"]
    if final == F_H:  # ㅎ: 하얗 -> 하얘, 하얀
        bright_e = {V_A: V_AE, V_YA: V_YAE, V_EO: V_AE, V_YEO: V_YE}.get(vowel)
        if bright_e is not None:
            probes += eo_probes(join_syllables([*stem[:-1], (lead, bright_e, NO_FINAL)]))
        probes += eu_probes(with_final(stem, NO_FINAL))
    if (lead, vowel, final) == (L_R, V_EU, NO_FINAL) and len(stem) > 1:  # 르: 부르 -> 불러, 빠르 -> 빨라
        before = with_final(stem[:-1], F_L)
        ending = "라" if is_bright(stem[-2][1]) else "러"
        probes += eo_probes(join_syllables(before) + ending)
    return probes


def conjugations(stem: str) -> list[str]:
    """Forms of a predicate stem, regular and irregular guesses, in a fixed order, without repeats."""
    syllables = split_syllables(stem)
    forms = [
        *consonant_probes(syllables),
        *eo_probes(eo_form(syllables)),
        *eu_probes(syllables),
        *irregular_vowel_probes(syllables),
    ]
    return list(dict.fromkeys(forms))


# -- the expansion --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expansion:
    """What a dictionary-form predicate expands to: ``forms`` maps each added form to its stem terms."""

    text: str
    stem: str
    forms: dict[str, list[str]] = field(default_factory=dict)


def dictionary_stem(word: str, tokens: list[Token]) -> str | None:
    """The stem of ``word`` (``tokens``: its analysis) if Nori reads it as a predicate in dictionary
    form (듣다 -> 듣), else None.

    The final 다 must be read as an ending (stopped, or kept with tag E, or EF/EC/… where Lucene 10
    splits endings), right after a predicate stem,
    or after a noun/root and 하 (담대하다): 바다 (a noun), 내다 (내/NP + 다/J) and 걸었다 (걷 + 었 + 다) are not.
    """
    if len(word) < 2 or not word.endswith("다") or not is_hangul(word):
        return None
    ending_at = len(word) - 1
    if any(t.end > ending_at and not is_ending(t.pos) for t in tokens):
        return None
    before = [t for t in tokens if t.end <= ending_at]
    if not before:
        return None
    last = before[-1]
    if last.pos in PREDICATE_TAGS and last.end == ending_at:
        return word[:-1]
    if last.pos in ROOT_TAGS and word.endswith("하다") and last.end == ending_at - 1:
        return word[:-1]
    return None


def stem_terms(tokens: list[Token]) -> tuple[str, ...] | None:
    """The terms of a form if every token Nori kept is a stem (None if any is an ending, particle…)."""
    if not tokens or any(t.pos not in STEM_TAGS for t in tokens):
        return None
    return tuple(t.term for t in tokens)


def expand_predicate(text: str, analyze: Analyze) -> Expansion | None:
    """The forms that widen a dictionary-form predicate's search, or None if ``text`` is not one."""
    word = text.strip()  # offsets below are the stripped word's
    theme_tokens = analyze(word)
    stem = dictionary_stem(word, theme_tokens)
    if stem is None:
        return None
    # Only a form Nori reads back as this stem is this predicate's (a 하다 predicate's forms: its root).
    own_readings = {stem, stem[:-1]} if stem.endswith("하") and len(stem) > 1 else {stem}
    seen = {tuple(t.term for t in theme_tokens)}  # terms the theme already searches
    forms: dict[str, list[str]] = {}
    for form in conjugations(stem):
        terms = stem_terms(analyze(form))
        if terms is None or terms in seen or "".join(terms) not in own_readings:
            continue
        seen.add(terms)
        forms[form] = list(terms)
    return Expansion(text=word, stem=stem, forms=forms)


def expand_phrase(text: str, analyze: Analyze) -> Expansion | None:
    """A multi-word predicate (세상을 떠나다, 숨을 거두다) expanded like a single word: its last word's
    added inflections, each with the words before it (세상을 뜨다 -> 세상을 떴다 when Nori reads 떴다
    otherwise than 뜨다). None if ``text`` is one word or does not end in a dictionary-form predicate."""
    words = text.split()
    if len(words) < 2:
        return None
    last = expand_predicate(words[-1], analyze)
    if last is None:
        return None
    head = " ".join(words[:-1])
    return Expansion(
        text=" ".join(words),
        stem=last.stem,
        forms={f"{head} {form}": terms for form, terms in last.forms.items()},
    )


def expand_alternative(text: str, analyze: Analyze) -> Expansion | None:
    return expand_phrase(text, analyze) if len(text.split()) > 1 else expand_predicate(text, analyze)


def expand_query(query: ThemeQuery, analyze: Analyze) -> tuple[ThemeQuery, list[Expansion]]:
    """``query`` with the added forms of each dictionary-form alternative appended to its synonyms."""
    expansions = [e for alt in query.alternatives if (e := expand_alternative(alt, analyze)) is not None]
    known = set(query.alternatives)
    added = [form for e in expansions for form in e.forms if form not in known]
    if not added:
        return query, expansions
    return replace(query, synonyms=(*query.synonyms, *dict.fromkeys(added))), expansions


def added_forms(expansions: Iterable[Expansion]) -> dict[str, list[str]]:
    """Each form the expansions added -> the stem terms Nori reads it as (들었다 -> [듣])."""
    return {form: terms for e in expansions for form, terms in e.forms.items()}


def describe_added(forms: dict[str, list[str]]) -> str:
    """``들었다 → 듣, 썼다 → 쓰``: the added forms as the CLI and the app show them."""
    return ", ".join(f"{form} → {' '.join(terms)}" for form, terms in forms.items())


def search_theme_text(
    backend: SearchBackend, query: str | ThemeQuery, k: int, *, expand: bool
) -> tuple[list[Hit], dict[str, list[str]]]:
    """The top ``k`` hits for a theme, and the inflected forms its expansion added (form -> terms).

    ``expand`` (``query.expand_predicates``) widens a dictionary-form predicate to its inflections
    first; without it the theme is searched as written and nothing is added.
    """
    theme = planned_query(backend, query, expand=expand)
    return backend.search(theme, k), added_forms(theme_expansions(theme))


def theme_expansions(theme: ThemeQuery) -> list[Expansion]:
    """The expansions a planned query carries (its inflected-form clauses, grouped per form)."""
    forms: dict[str, list[str]] = {}
    for clause in theme.clauses:
        if clause.reason == INFLECTED:
            forms.setdefault(clause.source, list(clause.terms))
    return [Expansion(text=theme.text, stem="", forms=forms)] if forms else []


def planned_query(backend: SearchBackend, query: str | ThemeQuery, *, expand: bool) -> ThemeQuery:
    """``query`` with its clauses planned (``search.plan``): the theme, its synonyms and, with
    ``expand``, the inflected forms of its dictionary-form predicates, each clause with its reason."""
    theme = ThemeQuery(query) if isinstance(query, str) else query
    if theme.clauses:
        return theme
    reasons = {theme.text: THEME, **{s: SYNONYM for s in theme.synonyms if s != theme.text}}
    expansions: list[Expansion] = []
    if expand:
        theme, expansions = expand_query(theme, backend.analyze)
    added = added_forms(expansions)
    alternatives = [(alt, reasons.get(alt, INFLECTED)) for alt in theme.alternatives]
    clauses = plan_clauses(alternatives, theme.match, backend.analyze, theme.slop)
    clauses = [replace(c, terms=tuple(added[c.source])) if c.source in added else c for c in clauses]
    return replace(theme, clauses=tuple(clauses))


def weigh_synonyms(planned: ThemeQuery, weight: float) -> ThemeQuery:
    """``planned`` with its synonym clauses (and the inflected forms of synonyms) boosted by ``weight``."""
    if weight == 1.0:
        return planned
    of_synonym = {form for e in theme_expansions(planned) if e.text != planned.text for form in e.forms}
    clauses = tuple(
        replace(c, boost=weight)
        if c.reason == SYNONYM or (c.reason == INFLECTED and c.source in of_synonym)
        else c
        for c in planned.clauses
    )
    return replace(planned, clauses=clauses)
