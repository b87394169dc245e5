"""The English–Chinese glossary, and every lecture's links to it and Chinese summary."""
import re
from pathlib import Path

import pytest

from conftest import ROOT

GLOSSARY = ROOT / "lectures" / "glossary.md"
LECTURE_SOURCES = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.py"))
SEEDS = Path("/work/shared/seeds")            # the original course's notes, where this checkout has them
CJK = re.compile(r"[\u4e00-\u9fff]")

# Key terms: (English, Traditional form, Simplified form). The Simplified forms are the ones the
# seed notes use (checked below where the notes are present); Traditional is the NTU form.
KEY_TERMS = [
    ("self-attention", "自注意力機制", "自注意力机制"),
    ("positional encoding", "位置編碼", "位置编码"),
    ("multi-head attention", "多頭注意力", "多头注意力"),
    ("one-hot encoding", "獨熱編碼", "独热编码"),
    ("word embedding", "詞嵌入", "词嵌入"),
    ("autoregressive (AT)", "自迴歸", "自回归"),
    ("convolution", "卷積", "卷积"),
    ("batch normalisation", "批次標準化", "批次标准化"),
    ("beam search", "束搜索", "束搜索"),
    ("teacher forcing", "教師強制", "教师强制"),
]
SEED_FORMS = ["自注意力机制", "位置编码", "多头注意力", "独热编码", "词嵌入", "自回归", "卷积", "批次标准化"]


def glossary_rows() -> list[list[str]]:
    lines = [ln for ln in GLOSSARY.read_text().splitlines() if ln.startswith("|")]
    assert lines[0].replace(" ", "") == "|English|繁體中文|简体中文|firstseenin|", lines[0]
    return [[cell.strip() for cell in ln.strip("|").split("|")] for ln in lines[2:]]


def test_glossary_has_enough_distinct_complete_rows():
    rows = glossary_rows()
    assert len(rows) >= 60, f"only {len(rows)} terms"
    english = [r[0].lower() for r in rows]
    assert len(english) == len(set(english)), sorted({e for e in english if english.count(e) > 1})
    for en, tw, cn, first in rows:
        assert CJK.search(tw) and CJK.search(cn), f"{en}: a Chinese column is empty ({tw!r}, {cn!r})"
        link = re.fullmatch(r"\[\d+\]\((\d\d_[a-z0-9_]+)\.ipynb\)", first)
        assert link and (ROOT / "lectures" / f"{link.group(1)}.py").exists(), f"{en}: bad lecture link {first!r}"


def test_key_terms_use_the_courses_forms():
    by_english = {r[0]: r for r in glossary_rows()}
    for en, tw, cn in KEY_TERMS:
        assert en in by_english, f"{en} missing from the glossary"
        _, tw_col, cn_col, _ = by_english[en]
        assert tw in tw_col and cn in cn_col, f"{en}: expected {tw} / {cn}, got {tw_col} / {cn_col}"


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed notes are not in this checkout")
def test_key_simplified_forms_are_the_seed_notes_forms():
    notes = "".join(p.read_text() for p in SEEDS.glob("*.txt"))
    missing = [form for form in SEED_FORMS if form not in notes]
    assert not missing, f"not the seed notes' usage: {missing}"


@pytest.mark.parametrize("path", LECTURE_SOURCES, ids=lambda p: p.stem)
def test_lecture_links_the_glossary_and_summarises_in_chinese(path):
    text = path.read_text()
    assert "](glossary.md)" in text, f"{path.name} does not link glossary.md"
    summary, zh = text.find("# ## Summary"), text.find("# ## 摘要")
    assert summary >= 0 and zh > summary, f"{path.name}: no '## 摘要' section after '## Summary'"
    assert "\n# ## " not in text[zh + 1:], f"{path.name} does not end with its 摘要 (a section follows it)"
    section = text[zh:text.find("\n# ## ", zh + 1) if text.find("\n# ## ", zh + 1) > 0 else len(text)]
    assert "繁體中文" in section and "简体中文" in section, f"{path.name}: 摘要 needs Traditional and Simplified"
    assert section.index("繁體中文") < section.index("简体中文"), f"{path.name}: Traditional comes first"
