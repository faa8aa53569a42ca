"""Both label files have the same keys, every key the page uses exists, and no label is hard-coded."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from fleet.web.mount import I18N_DIR, LANGUAGES, STATIC_DIR

JS_DIR = STATIC_DIR / "js"


def labels(lang: str) -> dict[str, str]:
    return json.loads((I18N_DIR / f"{lang}.json").read_text(encoding="utf-8"))


def js_sources() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(JS_DIR.glob("*.js"))}


class _Page(HTMLParser):
    """Collects data-i18n keys and any text that sits in the page without one."""

    VOID = {"meta", "link", "input", "br", "img", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()
        self.stack: list[tuple[str, bool]] = []
        self.loose: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for name in ("data-i18n", "data-i18n-placeholder", "data-i18n-title", "data-i18n-aria"):
            if a.get(name):
                self.keys.add(str(a[name]))
        if tag not in self.VOID:
            self.stack.append((tag, "data-i18n" in a or "data-raw" in a))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        text = data.strip()
        inside = [t for t, _ in self.stack]
        if text and "script" not in inside and "style" not in inside and not (self.stack and self.stack[-1][1]):
            self.loose.append(text)


def page() -> _Page:
    p = _Page()
    p.feed((STATIC_DIR / "index.html").read_text(encoding="utf-8"))
    return p


def test_both_languages_have_the_same_keys_and_no_empty_label() -> None:
    en, zh = labels("en"), labels("zh-CN")
    assert set(LANGUAGES) == {"en", "zh-CN"}
    assert sorted(set(en) ^ set(zh)) == []
    assert [k for k, v in {**en, **zh}.items() if not v.strip()] == []


def test_chinese_labels_are_translated() -> None:
    en, zh = labels("en"), labels("zh-CN")
    same = [k for k in en if en[k] == zh[k] and re.search(r"[A-Za-z]{2,}", en[k])]
    # language names are shown in their own language in both files
    assert sorted(same) == ["lang.en"]


def test_every_key_used_by_the_page_exists() -> None:
    en = labels("en")
    used = set(page().keys)
    for text in js_sources().values():
        used |= set(re.findall(r"\bt\(\s*'([\w.-]+)'", text))
        used |= set(re.findall(r"'data-i18n':\s*'([\w.-]+)'", text))
    missing = sorted(k for k in used if k not in en)
    assert missing == []
    # keys built at run time: every value of the lists they are built from has a label
    store = js_sources()["store.js"]
    modes = re.findall(r"'(\w+)'", re.search(r"export const MODES = \[(.*?)\]", store, re.S).group(1))
    orders = js_sources()["orders.js"]
    states = re.findall(r"'(\w+)'", re.search(r"export const ORDER_STATES = \[(.*?)\]", orders, re.S).group(1))
    assert len(modes) >= 6 and len(states) == 8
    assert [m for m in modes if f"mode.{m}" not in en] == []
    assert [s for s in states if f"order_state.{s}" not in en] == []


def test_no_label_is_hard_coded_in_the_page() -> None:
    assert page().loose == []


def test_no_label_is_hard_coded_in_the_modules() -> None:
    # A word set as text in JS must come from t(); data (ids, numbers, units) goes through raw().
    offenders = []
    pattern = re.compile(r"""(?:text:\s*|textContent\s*=\s*|title\s*=\s*|placeholder\s*=\s*)(['"`])([^'"`]*[A-Za-z]{2,}[^'"`]*)\1""")
    for name, text in js_sources().items():
        for m in pattern.finditer(text):
            offenders.append(f"{name}: {m.group(0)}")
    assert offenders == []
