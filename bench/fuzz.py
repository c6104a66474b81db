"""Long runs of the seeded REST and WebSocket fuzzers (``tests/support/fuzzcases.py``), plain
and framed JSON.

Each run drives the protocol cores the servers use (``RestApi.handle``, with ``framed=True``
for /rest/jsonf; ``MLinkSession`` ``receive``/``receive_framed``/``pull`` on a ``Hub``) with N
seeded cases and reports:
  crashes        an exception escaped the handler
  non-protocol   an answer that is not a JSON array (REST) or framed messages (jsonf) ending in
                 a QueryResult, a frame that is not a known protocol message, a framed header
                 whose number or length is wrong, a WebSocket frame on /mlink/jsonf that is not
                 binary, a framed post answered by more or fewer PostAcks than it had messages,
                 or a session that stopped serving (WS)
  data changes   stored data changed by a request that no PostAck/MLinkDataAck acked OK
The framed cases damage the 14-byte headers (number, letter, line break, digits, lengths off,
cut short), join and split messages across WebSocket frames, and send text and binary frames.
A finding is printed with its case number; ``--case N`` replays one case.

Usage: python bench/fuzz.py [--cases 100000] [--seed 19] [--only rest|ws|rest-jsonf|ws-jsonf] [--case N]
       [--first N]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.support import fuzzcases as fc


def _report(name: str, f: fc.Findings, secs: float, cpu: float) -> None:
    print(f"{name}: {f.cases:,} cases in {secs:.0f} s ({cpu:.0f} s CPU, load {os.getloadavg()[0]:.1f}): "
          f"{len(f.crashes)} crashes, {len(f.non_protocol)} non-protocol answers, "
          f"{len(f.data_changes)} changes to stored data", flush=True)
    for kind, items in (("crash", f.crashes), ("non-protocol", f.non_protocol),
                        ("data change", f.data_changes)):
        for x in items[:5]:
            print(f"  {kind}: {x[:400]}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--first", type=int, default=0,
                    help="first case number (split a long run over processes: --first 25000 --cases 25000)")
    ap.add_argument("--only", choices=("rest", "ws", "rest-jsonf", "ws-jsonf"))
    ap.add_argument("--case", type=int, help="replay one case number and print it")
    args = ap.parse_args()
    plat = fc.fuzz_platform()
    if args.case is not None:
        seed = args.seed * 1_000_003 + args.case
        num_of = fc._num_of(plat)
        print("REST:", fc.rest_case(random.Random(seed)))
        print("WS:", fc.ws_frames(random.Random(seed)))
        print("REST jsonf:", fc.rest_framed_case(random.Random(seed), num_of))
        print("WS jsonf:", fc.jsonf_ws_case(random.Random(seed), num_of))
        return 0
    clean = True
    for name, only, run in (("REST", "rest", fc.run_rest), ("WebSocket", "ws", fc.run_ws),
                            ("REST jsonf", "rest-jsonf", fc.run_rest_framed),
                            ("WebSocket jsonf", "ws-jsonf", fc.run_ws_framed)):
        if args.only in (None, only):
            t = time.perf_counter()
            c = time.process_time()
            f = run(args.seed, args.cases, plat, first=args.first)
            _report(name, f, time.perf_counter() - t, time.process_time() - c)
            clean &= f.clean
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
