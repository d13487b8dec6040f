"""uvicorn under tracemalloc, for `bench.subscribers --trace-memory`: SIGUSR1 writes a snapshot.

    python -m bench.traced_server <uvicorn arguments>      # TRACE_DIR=<where snapshots go>

Each SIGUSR1 collects garbage, then writes `snapshot-<n>.pickle` and an empty `.done` file
beside it (the benchmark waits for that one: the snapshot is complete).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

import uvicorn.main

#: Frames kept per allocation (TRACE_FRAMES): the report's "by line" needs one; more show who
#: called (its "by traceback" part) and slow the server down.
FRAMES = int(os.environ.get("TRACE_FRAMES", "1"))


def main() -> None:
    tracemalloc.start(FRAMES)
    where = Path(os.environ["TRACE_DIR"])
    taken = 0

    def dump(signum: int, frame: FrameType | None) -> None:
        nonlocal taken
        gc.collect()
        path = where / f"snapshot-{taken}.pickle"
        taken += 1
        tracemalloc.take_snapshot().dump(str(path))
        path.with_suffix(".done").touch()

    signal.signal(signal.SIGUSR1, dump)
    sys.argv = ["uvicorn", *sys.argv[1:]]
    uvicorn.main.main()


if __name__ == "__main__":
    main()
