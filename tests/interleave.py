"""Put another session's committed write exactly between a worker's read of a ticket and its write."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

from shared.models import Ticket


class WriteBetween:
    """Once `armed`, the next load of the row (a ticket by default) by a session of `factory` first commits `write`.

    A worker reads the ticket, calls its model (seconds), then reads it again and writes. Arming from
    the model call makes the other write land after that second read and before the write: the
    window that claiming the row must close. It fires once; `write` gets its own session.
    """

    def __init__(
        self, factory: sessionmaker[Session], key: str, write: Callable[[Session], Any], *, entity: type = Ticket
    ) -> None:
        self.factory, self.key, self.write, self.entity = factory, key, write, entity
        self.armed = False
        self.result: Any = None
        self.fired = False

    def _on_load(self, _session: Session, instance: object) -> None:
        if not self.armed or self.fired or not isinstance(instance, self.entity):
            return
        if inspect(instance).identity != (self.key,):
            return
        self.fired = True
        with self.factory() as other:
            self.result = self.write(other)

    @contextmanager
    def listening(self) -> Iterator[WriteBetween]:
        event.listen(self.factory, "loaded_as_persistent", self._on_load)
        try:
            yield self
        finally:
            event.remove(self.factory, "loaded_as_persistent", self._on_load)
