"""Sizes of the messages a database's alerts make: per message and channel, the subject and
the bytes of the plain-text body, the HTML body, the whole MIME mail and the webhook body.

    .venv/bin/absence-monitor demo --keep /tmp/demo
    .venv/bin/python bench/alert_sizes.py /tmp/demo/demo.db

Messages are rebuilt from the outbox (alerts grouped by delivery id, as the dispatcher
sends them) and rendered by the channels' own functions; nothing is sent.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from monitor.alerts import render
from monitor.alerts.payload import Message, encode, upgrade
from monitor.channels.mail import build_email
from monitor.store.models import Alert, Delivery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", help="an SQLite file, e.g. the demo's --keep copy")
    args = parser.parse_args()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    with Session(create_engine(f"sqlite:///{args.database}")) as session:
        rows = session.execute(
            select(Delivery.delivery_uuid, Delivery.channel, Alert.payload)
            .join(Alert, Alert.id == Delivery.alert_id)
            .order_by(Delivery.id)
        )
        for uuid, channel, payload in rows:
            groups[(uuid, channel)].append(payload)
    now = datetime.now(UTC)
    for (uuid, channel), payloads in groups.items():
        message = Message(uuid, [upgrade(p) for p in payloads], channel)
        if channel == "email":
            mail = build_email(message, sender="m@demo.invalid", to=["a@demo.invalid"], now=now)
            print(
                f"email   {message.event:17} text {len(render.text_body(message).encode()):6} B"
                f"  html {len(render.html_body(message).encode()):6} B"
                f"  mime {len(mail.as_bytes()):6} B  {render.subject(message)}"
            )
        else:
            print(f"webhook {message.event:17} body {len(encode(message)):6} B")


if __name__ == "__main__":
    main()
