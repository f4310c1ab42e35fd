"""The runs under --runs, by name, each checkpoint's settings read once per version of its file.

The page asks often (the runs view every 2 s, the tokens view on every keystroke for the runs'
tokenizers), and reading a checkpoint's settings opens a torch file: so what a run's latest.pt
says is kept until its modification time changes (cache.VersionCache).
"""

from __future__ import annotations

from pathlib import Path

from gpt.runs import LATEST, RunInfo, find_runs, run_info
from gptkit_base.errors import GptkitError

from .cache import VersionCache


class RunIndex:
    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._read: VersionCache[RunInfo | Exception] = VersionCache()

    def runs(self) -> dict[str, Path]:
        """The run directories under the root by name: the path relative to the root ("." for the root itself)."""
        if self.root is None:
            return {}
        return {path.relative_to(self.root).as_posix(): path for path in find_runs(self.root)}

    def info(self, run_dir: Path) -> RunInfo:
        """run_info of the run, read again only when its checkpoint has changed (CheckpointError, OSError as it)."""
        read = self._read.get(run_dir, (run_dir / LATEST).stat().st_mtime_ns, lambda: _read_info(run_dir))
        if isinstance(read, Exception):
            raise read
        return read


def _read_info(run_dir: Path) -> RunInfo | Exception:
    """run_info, or the error it raised (kept, so a damaged run is not read again every 2 s)."""
    try:
        return run_info(run_dir)
    except (GptkitError, OSError) as e:
        return e
