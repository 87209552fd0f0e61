"""The clustering core and its pieces, on plain texts (no database)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.topics_helpers import stories
from tgparser.errors import TgparserError
from tgparser.topics import require_numeric
from tgparser.topics.cluster import Params, cluster_texts
from tgparser.topics.quality import nmi, pairwise, score
from tgparser.topics.text import tokens


def test_tokens_meet_across_ru_uk_and_en_names() -> None:
    ru, _ = tokens("Газпром остановил прокачку газа по газопроводу «Северный поток».", 5)
    uk, _ = tokens("Газпром зупинив прокачування газу газопроводом «Північний потік».", 5)
    assert {"gazpr", "gazop"} <= set(ru) & set(uk)
    en, names = tokens("Pavel Durov was detained near Paris. Durov denies it", 5)
    ru2, _ = tokens("Павел Дуров задержан во Франции", 5)
    assert "durov" in set(en) & set(ru2) and "durov" in names
    numbers, marked = tokens("ставка 5,25% и 16% годовых, 100 000 рублей, 2024", 5)
    assert "5.25" in numbers and "2024" in marked and "16" not in marked and "000" not in numbers


def test_quality_measures() -> None:
    assert pairwise([1, 1, 2, 2], ["a", "a", "b", "b"])["f1"] == 1.0
    assert nmi([1, 1, 2, 2], ["a", "a", "b", "b"]) == pytest.approx(1.0)
    lumped = pairwise([1, 1, 1, 1], ["a", "a", "b", "b"])
    assert lumped["recall"] == 1.0 and lumped["precision"] == pytest.approx(1 / 3)
    assert nmi([1, 2, 3, 4], ["a", "a", "a", "a"]) == pytest.approx(0.0)
    assert score([1, 2, 2], ["a", "b", "b"])["singleton_share"] == pytest.approx(1 / 3)


def test_the_core_clusters_the_story_fixture_without_being_told_how_many() -> None:
    rows = stories()
    result = score(cluster_texts([t for _, _, t in rows]), [s for s, _, _ in rows])
    # the figures docs/topics.md reports (F1 0.769, NMI 0.948), with a little room
    assert result["f1"] >= 0.72 and result["nmi"] >= 0.93, result
    assert result["precision"] >= 0.8


def test_distinct_texts_stay_apart_and_a_story_stays_together() -> None:
    labels = cluster_texts(
        [
            "Bitcoin tops $100,000 for the first time.",
            "BTC above 100k: Bitcoin ETFs saw $1 billion inflows this week.",
            "Bitcoin hits $100,000, ETFs see record inflows.",
            "Lviv zoo named its newborn giraffe Button.",
            "A tiny museum of mechanical typewriters opened in Lisbon.",
        ]
    )
    assert labels[0] == labels[1] == labels[2]
    assert len({labels[0], labels[3], labels[4]}) == 3
    assert cluster_texts([]) == []
    assert len(set(cluster_texts(["same words here"] * 3, Params()))) == 1


def test_a_missing_numeric_library_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    with pytest.raises(TgparserError) as caught:
        require_numeric()
    message = str(caught.value)
    assert "\n" not in message
    assert "pipx inject tgparser numpy" in message and "tgparser[topics]" in message


def test_help_imports_no_numeric_library() -> None:
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom tgparser.cli import main\n"
        "CliRunner().invoke(main, ['topics', '--help'])\n"
        "CliRunner().invoke(main, ['--help'])\n"
        "print(sorted(m for m in ('numpy', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
