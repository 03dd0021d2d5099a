"""The old leader of the SIGSTOP test, as a process: ``python -m tests.helpers.leader_child
URL`` campaigns until it leads (a 3 s lease), prints ``leading EPOCH``, then waits for a
line on stdin. That line comes after the test paused it past its lease and resumed it: it
then writes under the epoch it led with (what a round commit begun before the pause
would do) and prints ``stale`` (the fence refused it) or ``wrote``, then ``step True`` or
``step False`` (whether its election still says it leads)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

from monitor.daemon.leader import LeaderElection
from monitor.store.cluster import StaleEpoch, fence
from monitor.store.db import create_db_engine, session_factory
from monitor.store.models import Node

WRITTEN = "written-by-the-old-leader"


def main(url: str) -> None:
    election = LeaderElection(url, "old", timedelta(seconds=3))
    while not election.step():
        time.sleep(0.2)
    epoch = election.epoch
    assert epoch is not None
    print(f"leading {epoch}", flush=True)
    sys.stdin.readline()
    engine = create_db_engine(url)
    now = datetime.now(UTC)
    try:
        with session_factory(engine)() as session, session.begin():
            fence(session, epoch)
            session.add(
                Node(
                    name=WRITTEN,
                    vantage="x",
                    version="1",
                    host="h",
                    pid=1,
                    started_at=now,
                    last_seen=now,
                )
            )
        print("wrote", flush=True)
    except StaleEpoch:
        print("stale", flush=True)
    print(f"step {election.step()}", flush=True)
    election.close()
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1])
