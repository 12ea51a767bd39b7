"""`python -m bench`: floor, gRPC, REST per batch; the floor's loop, `lead-archive archive` and
pt-archiver on whole lists; then the dialer guard's cost per batch (bench/guard.py).

See docs/performance.md; `python -m bench --help` lists the knobs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import warnings
from pathlib import Path

from lead_archive_server.core.database_url import DatabaseUrl
from lead_archive_server.core.db import Database

from bench import guard, offsets, report, runner
from bench.plan import Plan

DEFAULT_SERVER = os.environ.get("LEAD_ARCHIVE_TEST_DATABASE_URL", "mysql://root@127.0.0.1:3306")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--engine", choices=["MyISAM", "InnoDB", "both"], default="both")
    parser.add_argument("--leads", type=int, default=100_000, help="leads seeded (default 100000)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--batches",
        type=int,
        default=60,
        help="per-batch rounds, each one floor, one gRPC and one REST batch (default 60)",
    )
    parser.add_argument(
        "--bulk-leads", type=int, default=100_000, help="leads per bulk list (default 100000)"
    )
    parser.add_argument(
        "--bulk-rounds", type=int, default=3, help="bulk rounds, order rotating (default 3)"
    )
    parser.add_argument(
        "--pt-leads", type=int, default=20_000, help="pt-archiver's leads per round (20000)"
    )
    parser.add_argument(
        "--million",
        action="store_true",
        help="also time `lead-archive archive` on a 1,000,000-lead list (InnoDB only)",
    )
    parser.add_argument(
        "--requests", type=int, default=10_000, help="requests before the RSS reading"
    )
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--validation-samples", type=int, default=200)
    parser.add_argument("--no-pt-archiver", action="store_true")
    parser.add_argument(
        "--guard-rounds",
        type=int,
        default=40,
        help="rounds of the dialer guard's cost, guard on vs off (default 40; 0 skips)",
    )
    parser.add_argument(
        "--guard-only", action="store_true", help="measure only the dialer guard's cost"
    )
    parser.add_argument(
        "--offsets-only",
        action="store_true",
        help="measure only the reads of office hours from Vicidial (leads' offsets, dialer)",
    )
    parser.add_argument(
        "--offsets-leads", type=int, default=1_000_000, help="leads for --offsets-only"
    )
    parser.add_argument("--offsets-rounds", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for `lead-archive serve`, e.g. LEAD_ARCHIVE_POOL_SIZE=4",
    )
    parser.add_argument(
        "--archive-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for `lead-archive archive`",
    )
    parser.add_argument("--database-url", default=DEFAULT_SERVER, help="the MariaDB server")
    parser.add_argument(
        "--results",
        type=Path,
        default=report.RESULTS,
        help="folder for the raw numbers and the server's log (default bench/results)",
    )
    return parser.parse_args(argv)


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def mariadb_version(server: DatabaseUrl) -> str:
    db = await Database.connect(server.with_database(""), pool_size=1)
    try:
        async with db.session() as session:
            return str((await session.fetch_all("SELECT VERSION()"))[0][0])
    finally:
        await db.close()


async def main(argv: list[str]) -> int:
    args = parse(argv)
    # MariaDB's notes on DROP DATABASE IF EXISTS of a database that is not there.
    warnings.filterwarnings("ignore", "Can't drop database")
    server = DatabaseUrl.parse(args.database_url)
    try:
        plan = Plan.make(
            args.leads,
            args.batch_size,
            args.batches,
            args.bulk_leads,
            args.bulk_rounds,
            args.pt_leads,
        )
    except ValueError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    extra = dict(item.split("=", 1) for item in args.server_env)
    version = await mariadb_version(server)
    engines = ["MyISAM", "InnoDB"] if args.engine == "both" else [args.engine]
    lines = []
    if args.offsets_only:
        for engine in engines:
            progress(f"{engine}: office hours from Vicidial, {args.offsets_leads} leads")
            read = await offsets.measure(
                server, engine, args.offsets_leads, args.offsets_rounds, keep=args.keep
            )
            lines.append(read.line())
        print("\n".join(lines))
        return 0
    if args.guard_only:
        for engine in engines:
            progress(f"{engine}: dialer guard, {args.guard_rounds} rounds on vs off")
            cost = await guard.measure(
                server, engine, args.batch_size, args.guard_rounds, keep=args.keep
            )
            lines.append(cost.line())
        print("\n".join(lines))
        return 0
    for engine in engines:
        options = runner.Options(
            engine=engine,
            server=server,
            plan=plan,
            requests=args.requests,
            in_flight=args.in_flight,
            validation_samples=args.validation_samples,
            pt_archiver=not args.no_pt_archiver,
            keep=args.keep,
            million=args.million,
            server_log=args.results / f"server-{engine.lower()}.log",
            server_env=extra,
            archive_env=dict(item.split("=", 1) for item in args.archive_env),
        )
        result = await runner.run(options, progress)
        saved = report.save(result, version, args.results)
        progress(f"{engine}: raw numbers in {saved}")
        print(report.table(result, version), flush=True)
        lines.append(report.last_line(result))
        if args.guard_rounds > 0:
            progress(f"{engine}: dialer guard, {args.guard_rounds} rounds on vs off")
            cost = await guard.measure(
                server, engine, args.batch_size, args.guard_rounds, keep=args.keep
            )
            print(cost.line(), flush=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
