"""How well card numbers are masked at intake (shared.redaction), and what else gets masked by mistake.

- Recall: generated card numbers of every issuer in `shared.redaction` (random digits after a real prefix,
  Luhn-completed), written four ways (digits only, groups of four with spaces, with hyphens, American
  Express's 4-6-5), inside a customer's sentence: the share masked to the right last four digits.
- False alarms on real text: every customer message and agent answer in ../shared/data (Bitext's, whose order
  ids run to 15 digits, BANKING77's, GoEmotions' comments): the texts changed at all.
- False alarms on look-alikes: random FedEx (12, 15 and 20 digits), USPS (20 and 22 digits, 92/93/94), UPS
  (1Z...) tracking numbers, phone numbers with and without the international prefix, 16-digit numbers of
  random digits, and real-looking card numbers with one digit changed (the Luhn check must catch those).
- Cost: microseconds per text over the real texts.
- The one-off rewrite of what was stored before (`python -m gateway.redact_stored`): a fresh SQLite file and
  PostgreSQL database (`copilot_bench_redaction`) filled as queue_reads.py does (`--stored-tickets`, with
  their messages, references and alerts), one ticket in 100 and one message in 100 given a card number;
  seconds for the whole walk, and the rows it changed.

Prints tables and writes benchmarks/results/redaction.json.

    python benchmarks/redaction.py [--per-case 2000] [--seed 7] [--stored-tickets 100000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import csv
import random
import string
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session
from stdnum import luhn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.queue_reads import filled_database
from benchmarks.support import print_table, write_results
from gateway import redact_stored
from shared.db import make_engine
from shared.models import Ticket, TicketMessage
from shared.redaction import ISSUERS, redact_card_numbers

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
BITEXT = SHARED / "bitext" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
SENTENCES = (
    "You charged my card {} twice this month.",
    "Please refund it to {}, thanks",
    "card number:{} exp 09/27",
    "I updated my payment method to {} but the order still failed",
)


def card(rng: random.Random, low: str, high: str, length: int) -> str:
    prefix = str(rng.randint(int(low), int(high))).zfill(len(low))
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


def written(rng: random.Random, number: str) -> str:
    """One of the ways customers write a card number."""
    style = rng.randrange(3 if len(number) != 15 else 4)
    if style == 0:
        return number
    if style == 3:  # American Express: 4-6-5
        return f"{number[:4]} {number[4:10]} {number[10:]}"
    return grouped(number) if style == 1 else grouped(number).replace(" ", "-")


def recall(rng: random.Random, per_issuer: int) -> dict[str, object]:
    caught = total = 0
    for low, high, lengths in ISSUERS:
        for _ in range(per_issuer):
            number = card(rng, low, high, rng.choice(list(lengths)))
            text = rng.choice(SENTENCES).format(written(rng, number))
            masked = redact_card_numbers(text)
            caught += f"[card ending {number[-4:]}]" in masked and number[:6] not in masked.replace(" ", "")
            total += 1
    return {"case": f"card numbers, {len(ISSUERS)} issuer ranges", "texts": total, "masked": caught}


def real_texts() -> Iterator[tuple[str, str]]:
    """(source, text) for every customer text and agent answer in ../shared/data."""
    sources = (
        (
            "bitext",
            SHARED / "bitext" / "Bitext_Sample_Customer_Support_Training_Dataset.csv",
            ("instruction", "response"),
        ),
        ("banking77", SHARED / "banking77" / "train.csv", ("text",)),
        ("goemotions", SHARED / "sentiment" / "train.csv", ("text",)),
    )
    for name, path, columns in sources:
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for column in columns:
                    yield name, row[column]


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def grouped(number: str) -> str:
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def look_alikes(rng: random.Random) -> dict[str, Callable[[], str]]:
    def altered() -> str:  # a real-looking card number with one digit changed: the Luhn check must catch it
        low, high, lengths = rng.choice(ISSUERS)
        number = card(rng, low, high, rng.choice(list(lengths)))
        i = rng.randrange(len(low), len(number))
        return number[:i] + str((int(number[i]) + rng.randint(1, 9)) % 10) + number[i + 1 :]

    return {
        "FedEx 12 digits": lambda: digits(rng, 12),
        "FedEx 15 digits": lambda: digits(rng, 15),
        "FedEx 20 digits": lambda: digits(rng, 20),
        "USPS 20 digits": lambda: rng.choice(("92", "93", "94")) + digits(rng, 18),
        "USPS 22 digits, grouped": lambda: grouped(rng.choice(("92", "93", "94")) + digits(rng, 20)),
        "UPS 1Z": lambda: "1Z" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
        "phone, +country": lambda: f"+{rng.randint(1, 99)}{digits(rng, rng.randint(9, 12))}",
        "phone, 00country": lambda: f"00{rng.randint(1, 99)}{digits(rng, rng.randint(9, 12))}",
        "16 random digits": lambda: digits(rng, 16),
        "card, one digit changed": altered,
    }


def backfill(backend: str, tmp: Path, tickets: int) -> dict[str, object]:
    """The stored-data rewrite over a filled database: seconds and rows changed per table."""
    url = filled_database(backend, tmp, "copilot_bench_redaction", tickets)
    engine = make_engine(url)
    with engine.begin() as conn:  # one in 100 tickets and messages with a card number, as legacy rows
        for table, column, key in (
            (Ticket, "description", Ticket.ticket_id),
            (TicketMessage, "body", TicketMessage.id),
        ):
            ids = list(conn.scalars(sa.select(key).order_by(key)))[::100]
            conn.execute(
                sa.update(table).where(key.in_(sa.bindparam("ids", expanding=True))),
                {"ids": ids, column: "You charged 4242 4242 4242 4242 twice"},
            )
    row: dict[str, object] = {"backend": backend, "tickets": tickets}
    start = time.perf_counter()
    with Session(engine) as session:
        for entity in redact_stored.COLUMNS:
            row[f"{entity.__tablename__}_changed"] = redact_stored.redact_table(session, entity, 1000, dry_run=False)
        row["ticket_references_changed"] = redact_stored.drop_card_references(session, dry_run=False)
    row["seconds"] = time.perf_counter() - start
    engine.dispose()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-case", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stored-tickets", type=int, default=100_000, help="0: skip the stored-data rewrite")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    rows: list[dict[str, object]] = [recall(rng, args.per_case)]
    texts = list(real_texts())
    start = time.perf_counter()
    changed = [(name, text) for name, text in texts if redact_card_numbers(text) != text]
    per_text_us = (time.perf_counter() - start) / len(texts) * 1e6
    for name in dict.fromkeys(name for name, _ in texts):
        n = sum(source == name for source, _ in texts)
        rows.append({"case": f"real texts: {name}", "texts": n, "masked": sum(s == name for s, _ in changed)})
    for case, make in look_alikes(rng).items():
        masked = sum(
            "[card ending" in redact_card_numbers(f"Tracking/ref {make()} please") for _ in range(args.per_case)
        )
        rows.append({"case": f"look-alike: {case}", "texts": args.per_case, "masked": masked})
    for row in rows:
        row["masked_share"] = round(int(row["masked"]) / int(row["texts"]), 5)  # type: ignore[call-overload]

    print_table(
        ["case", "texts", "masked", "share masked"],
        [[r["case"], r["texts"], r["masked"], r["masked_share"]] for r in rows],
        floats=".5f",
    )
    print(f"{per_text_us:.1f} µs per real text ({len(texts):,} texts); changed: {[t[:80] for _, t in changed[:5]]}")
    stored = []
    if args.stored_tickets:
        with tempfile.TemporaryDirectory() as tmp:
            stored = [backfill(backend, Path(tmp), args.stored_tickets) for backend in args.backends.split(",")]
        tables = ["tickets", "ticket_messages", "ticket_metadata", "ticket_corrections", "alerts", "ticket_references"]
        print_table(
            ["backend", "stored tickets", *(f"{t} changed" for t in tables), "seconds"],
            [[r["backend"], r["tickets"], *(r[f"{t}_changed"] for t in tables), r["seconds"]] for r in stored],
            floats=".1f",
        )
    payload = {"benchmark": "redaction", "seed": args.seed, "per_text_us": per_text_us, "rows": rows, "stored": stored}
    print(f"wrote {write_results('redaction', payload)}")


if __name__ == "__main__":
    main()
