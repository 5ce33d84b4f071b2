"""Article parsing and passage splitting."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from rag_worker.kb import MAX_PASSAGE_WORDS, Article, main, parse_article, read_articles, split_passages


def test_shipped_articles_are_complete(kb_dir: Path) -> None:
    articles = read_articles(kb_dir)

    assert [a.article_id for a in articles] == [f"kb_{i:03d}" for i in range(1, 11)]
    for article in articles:
        assert 150 <= len(article.content.split()) <= 420, article.article_id
        assert article.category and article.tags


def test_parse_reads_front_matter() -> None:
    article = parse_article("---\nid: faq_1\ntitle: Gift cards\ncategory: Billing\ntags: [gift, Card]\n---\nBody.")

    assert article == Article("faq_1", "Gift cards", "Body.", "billing", ("gift", "card"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\nid: a\n---\nno title here", "no title"),
        ("---\nid: a\ntitle: T\n---\n   ", "no body"),
        ("---\nid: bad id!\ntitle: T\n---\nbody", "article id"),
        ("---\ntitle: T\ntags: 5\n---\nbody", "`tags` must be a list"),
        ("---\ntitle: [T\n---\nbody", "not valid YAML"),
    ],
)
def test_parse_rejects_incomplete_articles(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_article(text)


def test_sections_become_passages_with_their_heading() -> None:
    article = parse_article((Path(__file__).parents[2] / "rag_worker/kb/kb_004.md").read_text())

    passages = split_passages(article)

    assert [p.heading for p in passages][:2] == ["Reset a forgotten password", "Locked account"]
    assert passages[0].text.startswith("1. Go to the sign-in page")
    assert all(p.passage_id == f"kb_004:{i}" for i, p in enumerate(passages))
    assert "Account Login & Password Reset - Locked account" in passages[1].embed_text


def test_long_sections_are_windowed_with_overlap() -> None:
    sentences = [f"Sentence number {i} explains one more detail of the policy in ten words." for i in range(40)]
    article = Article("long", "Long", "## Only section\n" + " ".join(sentences))

    passages = split_passages(article)

    assert len(passages) > 2
    assert all(len(p.text.split()) <= MAX_PASSAGE_WORDS + 15 for p in passages)
    for before, after in itertools.pairwise(passages):
        # The last sentence of a window opens the next one.
        assert after.text.startswith(before.text.split("\n\n")[-1])


def test_cli_rejects_a_folder_without_articles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", str(tmp_path)]) == 2
    assert "no *.md articles" in capsys.readouterr().err


def test_cli_names_the_file_that_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.md").write_text("---\ntitle: Good\n---\nBody.")
    (tmp_path / "latin1.md").write_bytes("---\ntitle: Caf\xe9\n---\nBody.".encode("latin-1"))

    assert main(["load", str(tmp_path), "--no-db"]) == 2
    err = capsys.readouterr().err
    assert "latin1.md" in err and "utf-8" in err
