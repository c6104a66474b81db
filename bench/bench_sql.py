"""SQL endpoint benchmark: 1.5 million LiveImpliedQuote rows, queried through the MySQL wire
protocol (mysql.connector) against an in-process endpoint whose asyncio loop owns the store.

Prints (median over repeated runs, client-side wall time including the wire):
  - select count(*) ... where ...                           (target < 100 ms)
  - a filtered select ... limit 500                         (target < 50 ms)
  - a full-table export to pandas (rows/s; mysql.connector here is pure Python, so this is
    the client's rate) and to the mariadb command-line client (the server's rate)
  - 10 concurrent connections running both queries (queries/s)
Usage: python bench/bench_sql.py [rows] [--no-export]
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mysql.connector
import numpy as np
import pandas as pd
from bench_store import make_columns, rss_mib

from openmlink.bus import ColumnBatch, InProcessBus
from openmlink.gateway import ApiKeys, Principal
from openmlink.schema import registry
from openmlink.srse.sql import EngineLimits, SqlConfig, SqlServer
from openmlink.store import Store

KEY = Principal("BENC-0000-0000-0001", "bench")
COUNT = ("select count(*) from sranalytics.msgliveimpliedquote "
         "where okey_tk = 'AAPL' and okey_cp = 'Call' and de > 0.5")
LIMIT = ("select okey_tk, okey_dt, okey_xx, okey_cp, oBid, oAsk, oBidIv, oAskIv, de "
         "from sranalytics.msgliveimpliedquote where okey_tk = 'SPY' and de > 0.1 limit 500")


def median_ms(cur: object, sql: str, reps: int) -> float:
    xs = []
    for _ in range(reps):
        t = time.perf_counter()
        cur.execute(sql)  # type: ignore[attr-defined]
        cur.fetchall()  # type: ignore[attr-defined]
        xs.append(time.perf_counter() - t)
    return statistics.median(xs) * 1e3


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1_500_000
    export = "--no-export" not in sys.argv
    reg = registry()
    bus = InProcessBus()
    store = Store(reg)
    store.attach(bus)
    t = time.perf_counter()
    bus.publish(ColumnBatch(reg["LiveImpliedQuote"], make_columns(n, np.random.default_rng(1))))
    print(f"loaded {n} LiveImpliedQuote rows in {time.perf_counter() - t:.1f} s, "
          f"RSS {rss_mib():.0f} MiB")
    keys = ApiKeys({KEY.key: KEY})
    loop = asyncio.new_event_loop()
    th = threading.Thread(target=loop.run_forever, daemon=True)
    th.start()
    server = SqlServer(reg, store, keys.principals, None,
                       SqlConfig(port=0, limits=EngineLimits(row_cap=n + 1, time_cap_s=300)))
    port = asyncio.run_coroutine_threadsafe(server.start(), loop).result()

    def connect() -> object:
        return mysql.connector.connect(host="127.0.0.1", port=port, user=KEY.user_name,
                                       password=KEY.key)

    cnx = connect()
    cur = cnx.cursor()  # type: ignore[attr-defined]
    cur.execute(COUNT)
    print(f"count(*) where -> {cur.fetchall()[0][0]} rows match")
    print(f"select count(*) ... where: median {median_ms(cur, COUNT, 30):.1f} ms (target < 100)")
    print(f"select ... where ... limit 500: median {median_ms(cur, LIMIT, 30):.1f} ms (target < 50)")

    if export:
        export_figures(cnx, port)
    cnx.close()  # type: ignore[attr-defined]
    concurrent_figures(connect)
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    th.join()


def export_figures(cnx: object, port: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t = time.perf_counter()
        df = pd.read_sql("select * from sranalytics.msgliveimpliedquote", cnx)
        dt = time.perf_counter() - t
    print(f"full-table export to pandas: {len(df)} rows x {len(df.columns)} columns in {dt:.1f} s "
          f"= {len(df) / dt:,.0f} rows/s")
    del df
    client = shutil.which("mariadb") or shutil.which("mysql")
    if client:  # the same export read by a C client: the server's own rate
        t = time.perf_counter()
        out = subprocess.run([client, "-h", "127.0.0.1", "-P", str(port), "-u", KEY.user_name,
                              f"-p{KEY.key}", "--batch", "--quick", "-e",
                              "select * from sranalytics.msgliveimpliedquote"],
                             stdout=subprocess.PIPE, check=True)
        dt = time.perf_counter() - t
        rows = out.stdout.count(b"\n") - 1
        print(f"full-table export to the {Path(client).name} client (--quick): {rows} rows in "
              f"{dt:.1f} s = {rows / dt:,.0f} rows/s")



def concurrent_figures(connect: Callable[[], object]) -> None:
    clients, seconds = 10, 10.0
    done = [0] * clients

    def client(i: int) -> None:
        c = connect()
        k = c.cursor()  # type: ignore[attr-defined]
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            k.execute(COUNT if done[i] % 2 == 0 else LIMIT)
            k.fetchall()
            done[i] += 1
        c.close()  # type: ignore[attr-defined]

    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    dt = time.perf_counter() - t
    print(f"{clients} concurrent connections (count and limit-500 queries alternating): "
          f"{sum(done) / dt:.0f} queries/s over {dt:.1f} s")


if __name__ == "__main__":
    main()
