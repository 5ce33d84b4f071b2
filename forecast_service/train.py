"""Train the forecaster and save it where the service loads it.

    python -m forecast_service.train [--history FILE.csv [--time-col C] [--count-col C]] [--if-missing]

Without --history: real arrivals from the database when it holds enough weeks, else the
seeded synthetic six months. `--if-missing` does nothing when a usable model already exists
(what `make run` calls).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from sqlalchemy.exc import DBAPIError

from forecast_service.data import HistoryError, read_history_csv
from forecast_service.model import Forecaster, fit
from forecast_service.service import IMPORTED_FILE, model_dir, save_imported, training_history
from shared.config import get_settings
from shared.db import describe_db_error, get_engine


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m forecast_service.train", description=__doc__.split("\n")[0])
    p.add_argument("--history", help="CSV of hourly counts or of one row per ticket")
    p.add_argument("--time-col", help="timestamp column of --history (auto-detected when unambiguous)")
    p.add_argument("--count-col", help="count column of --history (absent: one row per ticket)")
    p.add_argument("--if-missing", action="store_true", help="train only when no model is saved yet")
    p.add_argument("--epochs", type=int, help="upper bound of training epochs (default: settings)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    directory = model_dir(settings)
    if args.if_missing and Forecaster.load(directory) is not None:  # an unusable or old-format model is retrained
        print(f"forecast model present in {directory}; not training (--if-missing)")
        return 0
    try:
        if args.history:
            history = read_history_csv(args.history, time_col=args.time_col, count_col=args.count_col)
        else:
            history = training_history(settings, get_engine())
        forecaster = fit(
            history,
            validation_days=settings.forecast_validation_days,
            max_epochs=settings.forecast_max_epochs if args.epochs is None else args.epochs,
            seed=settings.forecast_synthetic_seed,
            country=settings.forecast_holiday_country,
        )
    except (HistoryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:  # the arrivals history is read from the database
        print(f"error: {describe_db_error(exc)}", file=sys.stderr)
        return 2
    forecaster.save(directory)
    if args.history:
        save_imported(history, directory)
    elif history.source != f"csv:{IMPORTED_FILE}":  # retrained on its own imported history: keep that
        (directory / IMPORTED_FILE).unlink(missing_ok=True)
    meta = forecaster.meta
    summary = {k: meta[k] for k in ("version", "source", "data_start", "data_end", "epochs", "blend", "train_seconds")}
    summary["validation"] = meta["validation"]
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
