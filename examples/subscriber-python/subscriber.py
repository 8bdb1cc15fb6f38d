#!/usr/bin/env python3
"""An example subscriber of Relais's order events (docs/subscribing.md).

A durable pull consumer of its own on the orders stream, receiving
`order.placed` and `order.confirmed`, that:

- decodes each payload with classes generated from proto/ (generate.py),
  the message type read from the protos' own `published_as` options, as
  docs/asyncapi.yaml is;
- applies it at most once: the event id (`Nats-Msg-Id`) goes into an inbox
  table in the same SQLite transaction as the event's effect (here: a copy
  of each order's status), and a redelivered or republished event finds it
  there and changes nothing;
- keeps the newest version of each order (`meta.aggregate_version`): an
  older event arriving late is recorded and skipped;
- acknowledges after its commit (double ack: the server confirms), NAKs
  with a growing delay when handling fails, and after `--max-deliver`
  attempts, or at once for a payload it cannot read, keeps the event in its
  own dead-letter table and terminates it (no more redeliveries);
- prints one line per message, with the trace id of the change
  (`traceparent`) to find its trace;
- exits after `--max-events` messages, or after `--timeout` seconds.

Usage (docs in README.md beside this file):

    python generate.py                  # once: classes from ../../proto
    python subscriber.py --durable acme-orders --tenant <tenant id> --max-events 10
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sqlite3
import sys
import time
from pathlib import Path

import nats
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(Path(os.environ.get("RELAIS_PROTO_PY", HERE / "generated"))))
try:
    from relais.events.v1 import options_pb2, orders_pb2  # noqa: E402
    from relais.orders.v1 import orders_pb2 as orders_api  # noqa: E402
except ImportError:
    sys.exit("subscriber: no generated classes: run `python generate.py` first")

# Exit status when --exit-before-ack stopped the run on purpose.
EXIT_BEFORE_ACK = 3

SCHEMA = """
create table if not exists inbox (
    event_id   text primary key,          -- Nats-Msg-Id = meta.event_id
    subject    text not null,
    handled_at text not null
);
create table if not exists orders (         -- the effect: our copy of each order
    tenant_id  text not null,
    order_id   text primary key,
    status     text not null,
    version    integer not null             -- meta.aggregate_version
);
create table if not exists dead_letters (
    event_id   text,
    subject    text not null,
    payload    blob not null,
    error      text not null,
    attempts   integer not null,
    failed_at  text not null
);
"""


def published_types(module) -> dict[str, type]:
    """`<aggregate>.<event>` -> message class, from the file's options."""
    out = {}
    for name, desc in module.DESCRIPTOR.message_types_by_name.items():
        for event in desc.GetOptions().Extensions[options_pb2.published_as]:
            out[event] = getattr(module, name)
    return out


def stream_name(ns: str, service: str) -> str:
    """`<NS>_<SERVICE>`, as relais_platform::nats::Namespace::stream."""
    return f"{ns}_{service}".upper().replace(".", "_").replace("-", "_")


def trace_id(headers: dict[str, str]) -> str:
    """The trace id of a W3C `traceparent` (version-traceid-spanid-flags)."""
    parts = headers.get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 else "-"


class Poison(Exception):
    """An event that will never be handled: dead letter at once."""


class Subscriber:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.db = sqlite3.connect(args.db, isolation_level=None)
        self.db.executescript(SCHEMA)
        self.types = published_types(orders_pb2)
        publisher = orders_pb2.DESCRIPTOR.GetOptions().Extensions[options_pb2.publisher]
        self.service = publisher
        self.stream = stream_name(args.namespace, publisher)
        tenant = args.tenant or "*"
        self.filters = [
            f"{args.namespace}.{publisher}.v1.{tenant}.{event}" for event in args.events
        ]
        for event in args.events:
            if event not in self.types:
                sys.exit(f"subscriber: {publisher} publishes no {event} (it has: {', '.join(sorted(self.types))})")
        self.seen = 0

    def say(self, line: str) -> None:
        print(line, flush=True)

    # ------------------------------------------------------------ the effect

    def handle(self, subject: str, event_id: str, payload: bytes, delivery: int, trace: str) -> str:
        """Applies one event in one transaction with its inbox row. Returns
        the line to print."""
        name = ".".join(subject.split(".")[-2:])  # <aggregate>.<event>
        cls = self.types.get(name)
        if cls is None:
            raise Poison(f"no message type for {name}")
        try:
            event = cls.FromString(payload)
        except Exception as e:  # noqa: BLE001 - any decode error is poison
            raise Poison(f"undecodable {name}: {e}") from e
        order, meta = event.order, event.meta
        what = f"{name} order={order.id} version={meta.aggregate_version}"
        db = self.db
        db.execute("begin immediate")
        try:
            if db.execute("select 1 from inbox where event_id = ?", (event_id,)).fetchone():
                db.execute("rollback")
                return f"duplicate {what} event={event_id} delivery={delivery} (already handled: acked, nothing done)"
            row = db.execute("select version from orders where order_id = ?", (order.id,)).fetchone()
            stale = row is not None and row[0] >= meta.aggregate_version
            if not stale:
                status = orders_api.OrderStatus.Name(order.status)
                db.execute(
                    "insert into orders (tenant_id, order_id, status, version) values (?, ?, ?, ?)"
                    " on conflict (order_id) do update set status = excluded.status, version = excluded.version",
                    (meta.tenant_id, order.id, status, meta.aggregate_version),
                )
            db.execute(
                "insert into inbox (event_id, subject, handled_at) values (?, ?, ?)",
                (event_id, subject, dt.datetime.now(dt.timezone.utc).isoformat()),
            )
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise
        if stale:
            return f"stale {what} event={event_id} delivery={delivery} (version {row[0]} already applied: skipped)"
        return f"{what} tenant={meta.tenant_id} origin={meta.origin} event={event_id} delivery={delivery} trace={trace}"

    def dead_letter(self, subject: str, event_id: str | None, payload: bytes, error: str, attempts: int) -> None:
        self.db.execute(
            "insert into dead_letters (event_id, subject, payload, error, attempts, failed_at) values (?, ?, ?, ?, ?, ?)",
            (event_id, subject, payload, error, attempts, dt.datetime.now(dt.timezone.utc).isoformat()),
        )

    # ------------------------------------------------------------- NATS side

    async def run(self) -> int:
        a = self.args
        options = {"name": f"relais-example-subscriber {a.durable}"}
        if a.user:
            options.update(user=a.user, password=a.password)
        if a.inbox_prefix:
            # Replies and pull deliveries on subjects only this user may
            # read (docs/subscribing.md, Credentials).
            options.update(inbox_prefix=a.inbox_prefix)
        nc = await nats.connect(a.nats, **options)
        try:
            js = nc.jetstream()
            config = ConsumerConfig(
                durable_name=a.durable,
                filter_subjects=self.filters,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=a.ack_wait,
                # This program decides when to give up (its own dead
                # letters), so the server never drops a message on its own.
                max_deliver=-1,
            )
            if a.since:
                config.deliver_policy = DeliverPolicy.BY_START_TIME
                config.opt_start_time = a.since
            elif a.start_seq:
                config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
                config.opt_start_seq = a.start_seq
            elif a.new_only:
                config.deliver_policy = DeliverPolicy.NEW
            # Creates the durable, or finds it as it is (its delivery policy
            # is fixed once created: a replay is a new durable).
            try:
                await js.consumer_info(self.stream, a.durable)
            except NotFoundError:
                await js.add_consumer(self.stream, config)
            sub = await js.pull_subscribe_bind(durable=a.durable, stream=self.stream)
            self.say_err(f"consuming {', '.join(self.filters)} from {self.stream} as {a.durable}")
            deadline = time.monotonic() + a.timeout
            while self.seen < a.max_events:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.say_err(f"timeout after {a.timeout:g} s: {self.seen} message(s)")
                    return 0
                try:
                    # One at a time: an order's events are handled in the
                    # order the stream holds them.
                    msgs = await sub.fetch(batch=1, timeout=min(left, 5.0))
                except NatsTimeoutError:
                    continue
                for msg in msgs:
                    code = await self.process(msg)
                    if code is not None:
                        return code
            self.say_err(f"done: {self.seen} message(s)")
            return 0
        finally:
            await nc.drain()

    def say_err(self, line: str) -> None:
        print(f"subscriber: {line}", file=sys.stderr, flush=True)

    async def process(self, msg) -> int | None:
        a = self.args
        headers = msg.headers or {}
        event_id = headers.get("Nats-Msg-Id")
        delivery = msg.metadata.num_delivered
        try:
            if not event_id:
                raise Poison("no Nats-Msg-Id")
            line = self.handle(msg.subject, event_id, msg.data, delivery, trace_id(headers))
        except Poison as e:
            self.dead_letter(msg.subject, event_id, msg.data, str(e), delivery)
            await msg.term()  # never again
            self.seen += 1
            self.say(f"dead-letter {msg.subject} event={event_id} ({e})")
            return None
        except Exception as e:  # noqa: BLE001 - anything else: try again later
            if delivery >= a.max_deliver:
                self.dead_letter(msg.subject, event_id, msg.data, repr(e), delivery)
                await msg.term()
                self.seen += 1
                self.say(f"dead-letter {msg.subject} event={event_id} after {delivery} attempts ({e!r})")
                return None
            # Exponential backoff with jitter, capped at a minute.
            delay = min(60.0, 0.5 * 2 ** (delivery - 1)) * random.uniform(0.5, 1.0)
            await msg.nak(delay=delay)
            self.say_err(f"retry {msg.subject} event={event_id} in {delay:.1f} s: {e!r}")
            return None
        self.seen += 1
        self.say(line)
        if a.exit_before_ack and not line.startswith(("duplicate", "stale")):
            # As if the process died between its commit and its ack: the
            # message is handed back (a crash would get it back after the
            # ack wait) and comes again, to the next run.
            await msg.nak()
            self.say_err("exiting before the ack (--exit-before-ack)")
            return EXIT_BEFORE_ACK
        await msg.ack_sync()  # the server confirms it
        return None


def main() -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nats", default=env("NATS_URL", "nats://127.0.0.1:54222"))
    p.add_argument("--user", default=env("NATS_USER"), help="NATS user (env NATS_USER)")
    p.add_argument("--password", default=env("NATS_PASSWORD"), help="(env NATS_PASSWORD)")
    p.add_argument("--inbox-prefix", default=env("NATS_INBOX_PREFIX"),
                   help="e.g. _INBOX_acme_crm, as your user's permissions say (env NATS_INBOX_PREFIX)")
    p.add_argument("--namespace", default=env("RELAIS_NAMESPACE", "relais"))
    p.add_argument("--durable", required=True, help="the consumer's durable name (yours, e.g. acme-crm-orders)")
    p.add_argument("--tenant", help="one tenant's events only (its id); all tenants by default")
    p.add_argument("--events", nargs="+", default=["order.placed", "order.confirmed"])
    p.add_argument("--db", default="subscriber.sqlite3", help="SQLite file: inbox, orders, dead letters")
    p.add_argument("--max-events", type=int, default=10, help="exit after this many messages")
    p.add_argument("--timeout", type=float, default=60.0, help="exit after this many seconds")
    p.add_argument("--ack-wait", type=float, default=30.0, help="seconds before an unacked message comes again")
    p.add_argument("--max-deliver", type=int, default=8, help="attempts before a dead letter")
    start = p.add_mutually_exclusive_group()
    start.add_argument("--since", type=dt.datetime.fromisoformat,
                       help="a new durable starts at this time (RFC 3339), e.g. for a replay")
    start.add_argument("--start-seq", type=int, help="a new durable starts at this stream sequence")
    start.add_argument("--new-only", action="store_true", help="a new durable starts with what comes next")
    p.add_argument("--exit-before-ack", action="store_true",
                   help="(tests) hand the first new event back after its commit, without acking, and exit 3")
    args = p.parse_args()
    if args.since and args.since.tzinfo is None:
        p.error("--since needs a time zone (e.g. 2026-12-07T10:00:00+00:00)")
    return asyncio.run(Subscriber(args).run())


if __name__ == "__main__":
    sys.exit(main())
