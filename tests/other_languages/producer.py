"""A producer in Python: schedules Zart tasks, starts a durable execution and sends it an
event through Zart's SQL functions (psycopg 3), each in transactions of its own.

Run by tests/other_languages/python.rs with DATABASE_URL set, and PGOPTIONS putting the
test's schema on the search path: `producer.py start <id>`, `producer.py bulk`,
`producer.py rollback`, `producer.py event <id>`. Each phase checks what the functions
return and prints one line of what it did.
"""

import os
import sys

import psycopg
from psycopg import errors
from psycopg.types.json import Jsonb

TRANSACTIONS = 10
PER_TRANSACTION = 100


def start(conn, execution_id):
    with conn.transaction():
        started = conn.execute(
            "SELECT zart_start(%s, %s, %s)",
            ("await-shipping", execution_id, Jsonb({"order": execution_id})),
        ).fetchone()[0]
    assert started is True, started
    print("started", execution_id)


def bulk(conn):
    for t in range(TRANSACTIONS):
        with conn.transaction():
            for i in range(PER_TRANSACTION):
                n = t * PER_TRANSACTION + i
                inserted = conn.execute(
                    "SELECT zart_schedule(%s, %s, %s)",
                    ("count", f"bulk-{n}", Jsonb({"n": n})),
                ).fetchone()[0]
                assert inserted is True, (n, inserted)
    # An existing id: skipped when asked, else the error Rust's AlreadyExists displays.
    with conn.transaction():
        skipped = conn.execute(
            "SELECT zart_schedule(%s, %s, if_absent => true)", ("count", "bulk-0")
        ).fetchone()[0]
    assert skipped is False, skipped
    try:
        with conn.transaction():
            conn.execute("SELECT zart_schedule(%s, %s)", ("count", "bulk-0"))
        raise AssertionError("an existing id was scheduled again")
    except errors.UniqueViolation as e:
        assert e.diag.message_primary == "task id(s) already exist: bulk-0", e.diag.message_primary
    try:
        with conn.transaction():
            conn.execute("SELECT zart_schedule(%s, %s)", ("count", ""))
        raise AssertionError("an empty id was scheduled")
    except errors.InvalidParameterValue as e:
        assert e.sqlstate == "22023", e.sqlstate
        assert e.diag.message_primary == 'invalid task "": the task id is empty', e.diag.message_primary
    print("scheduled", TRANSACTIONS * PER_TRANSACTION)


def rollback(conn):
    with conn.transaction():
        conn.execute("SELECT zart_schedule(%s, %s)", ("count", "rolled-back"))
        raise psycopg.Rollback()
    print("rolled back")


def event(conn, execution_id):
    with conn.transaction():
        woke = conn.execute(
            "SELECT zart_send_event(%s, %s, %s)",
            (execution_id, "shipped", Jsonb({"from": "python"})),
        ).fetchone()[0]
    assert woke is True, woke
    print("woke", execution_id)


def main():
    phase, *args = sys.argv[1:]
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        {"start": start, "bulk": bulk, "rollback": rollback, "event": event}[phase](conn, *args)


if __name__ == "__main__":
    main()
