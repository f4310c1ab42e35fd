"""Values loaded once per version of what they are read from (a file's modification time).

The page asks again and again (the runs view every 2 s, the tokens view on every keystroke), and
loading means opening a checkpoint or a tokenizer: a value is loaded again only when its file has
changed. With a size, only the most recently used values are kept (models loaded for sampling).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class VersionCache(Generic[T]):
    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, tuple[Hashable, T]] = OrderedDict()
        self._lock = threading.Lock()  # requests and generation workers ask at the same time

    def get(self, key: Hashable, version: Hashable, load: Callable[[], T]) -> T:
        """The value for key, from load() unless it was loaded for this version already."""
        with self._lock:
            cached = self._values.get(key)
            if cached is None or cached[0] != version:
                cached = self._values[key] = (version, load())
            self._values.move_to_end(key)
            while self.size is not None and len(self._values) > self.size:
                self._values.popitem(last=False)
            return cached[1]
