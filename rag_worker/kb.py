"""Knowledge-base articles: parsing, passage splitting and the `load` CLI.

`python -m rag_worker.kb load DIR` indexes every `*.md` article in DIR (idempotent: unchanged
articles are skipped, changed ones re-split and re-embedded). Articles are markdown with front
matter `id`, `title`, `category` and `tags`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import frontmatter
import yaml

log = logging.getLogger(__name__)

ARTICLE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
MAX_PASSAGE_WORDS = 120
OVERLAP_SENTENCES = 1
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class Article:
    article_id: str
    title: str
    content: str
    category: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that ends up in the index changes."""
        payload = json.dumps([self.title, self.content, self.category, list(self.tags)], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Passage:
    passage_id: str
    article_id: str
    title: str
    heading: str
    text: str
    position: int
    category: str | None = None
    tags: tuple[str, ...] = field(default=())

    @property
    def embed_text(self) -> str:
        """What gets embedded and keyword-indexed: the passage in the context of its article and section."""
        context = self.title if not self.heading or self.heading == self.title else f"{self.title} - {self.heading}"
        return f"{context}\n{self.text}"


def validate_article_id(article_id: str) -> str:
    """The id unchanged, or ValueError saying what a valid id looks like."""
    if not ARTICLE_ID.match(article_id or ""):
        raise ValueError("article id must be 1-64 characters from [A-Za-z0-9_-]")
    return article_id


def parse_article(text: str, *, default_id: str | None = None) -> Article:
    """An Article from markdown with front matter; ValueError when that is malformed or id, title or body missing."""
    try:
        post = frontmatter.loads(text)
    except yaml.YAMLError as exc:
        raise ValueError("front matter is not valid YAML: " + " ".join(str(exc).split())) from exc
    meta = post.metadata
    article_id = str(meta.get("id") or default_id or "").strip()
    title = str(meta.get("title") or "").strip()
    if not title:
        # An article without a title in front matter may still start with "# Title".
        first = post.content.lstrip().splitlines()[0] if post.content.strip() else ""
        match = _HEADING.match(first)
        title = match.group(2) if match and len(match.group(1)) == 1 else ""
    if not title:
        raise ValueError("article has no title (front matter `title` or a leading '# ' heading)")
    if not post.content.strip():
        raise ValueError(f"article {article_id or title!r} has no body")
    tags = meta.get("tags") or []
    if isinstance(tags, str):
        tags = tags.split(",")
    elif not isinstance(tags, list):
        raise ValueError(f"front matter `tags` must be a list or a comma-separated string, not {tags!r}")
    category = meta.get("category")
    return Article(
        article_id=validate_article_id(article_id),
        title=title,
        content=post.content.strip(),
        category=str(category).strip().lower() if category else None,
        tags=tuple(str(t).strip().lower() for t in tags if str(t).strip()),
    )


def _read_article(path: Path) -> Article:
    """One article file; any problem with it is a ValueError that names the file (bad UTF-8 included)."""
    try:
        return parse_article(path.read_text(encoding="utf-8"), default_id=path.stem)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def read_articles(directory: Path) -> list[Article]:
    """Every `*.md` article in `directory`, sorted by id; the file stem is the fallback id."""
    paths = sorted(Path(directory).glob("*.md"))
    if not paths:
        raise FileNotFoundError(f"no *.md articles in {directory}")
    articles = [_read_article(p) for p in paths]
    ids = [a.article_id for a in articles]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"duplicate article ids in {directory}: {', '.join(duplicates)}")
    return sorted(articles, key=lambda a: a.article_id)


def _sections(article: Article) -> list[tuple[str, list[str]]]:
    """(heading, paragraphs) per section; the text before the first sub-heading belongs to the title."""
    sections: list[tuple[str, list[str]]] = [(article.title, [])]
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            sections[-1][1].append("\n".join(paragraph).strip())
            paragraph.clear()

    for line in article.content.splitlines():
        heading = _HEADING.match(line)
        if heading:
            flush()
            if len(heading.group(1)) > 1:
                sections.append((heading.group(2), []))
            continue  # the "# Title" line repeats the title
        if not line.strip():
            flush()
        else:
            paragraph.append(line.rstrip())
    flush()
    return [(h, ps) for h, ps in sections if ps]


def _words(text: str) -> int:
    return len(text.split())


def _split_long(paragraph: str) -> list[str]:
    """A paragraph longer than a passage, cut at sentence ends."""
    if _words(paragraph) <= MAX_PASSAGE_WORDS:
        return [paragraph]
    return [s for s in _SENTENCE_END.split(paragraph) if s.strip()]


def split_passages(article: Article) -> list[Passage]:
    """Passages of at most ~MAX_PASSAGE_WORDS words along section and paragraph boundaries.

    Short sections stay whole (a list stays with its lead-in line); a long section is cut into
    windows that repeat the previous window's last unit, so no step loses its context.
    """
    passages: list[Passage] = []
    for heading, paragraphs in _sections(article):
        units = [unit for p in paragraphs for unit in _split_long(p)]
        window: list[str] = []
        for unit in units:
            if window and _words(" ".join([*window, unit])) > MAX_PASSAGE_WORDS:
                passages.append(_passage(article, heading, window, len(passages)))
                window = window[-OVERLAP_SENTENCES:] if _words(window[-1]) < MAX_PASSAGE_WORDS // 2 else []
            window.append(unit)
        if window:
            passages.append(_passage(article, heading, window, len(passages)))
    return passages


def _passage(article: Article, heading: str, units: list[str], position: int) -> Passage:
    return Passage(
        passage_id=f"{article.article_id}:{position}",
        article_id=article.article_id,
        title=article.title,
        heading=heading,
        text="\n\n".join(units),
        position=position,
        category=article.category,
        tags=article.tags,
    )


def load_directory(directory: Path, *, settings=None, with_db: bool = True) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Index every article of `directory` and record it in `kb_articles`; returns counts."""
    from rag_worker.retrieval import load_retriever
    from shared.config import get_settings

    articles = read_articles(directory)
    retriever = load_retriever(settings or get_settings(), autoload=False)
    counts = retriever.index.load_articles(articles)
    if with_db:
        from rag_worker.knowledge import upsert_rows
        from shared.db import session_scope
        from shared.models import KBArticle, utcnow

        try:
            with session_scope() as session:
                counts["db_changed"] = upsert_rows(session, articles)
                session.flush()
                for article in articles:
                    row = session.get(KBArticle, article.article_id)
                    if row is not None:
                        row.index_state, row.indexed_at = "indexed", utcnow()
        except Exception as exc:  # the index alone still serves search; the workers sync the table later
            log.warning("articles indexed but not recorded in the database: %s", exc)
    return counts


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: `python -m rag_worker.kb load DIR`."""
    parser = argparse.ArgumentParser(prog="python -m rag_worker.kb", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="index every *.md article in DIR (idempotent)")
    load.add_argument("directory", type=Path)
    load.add_argument("--no-db", action="store_true", help="index only; don't record the articles in kb_articles")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        counts = load_directory(args.directory, with_db=not args.no_db)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
