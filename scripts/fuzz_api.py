"""A fuzzing campaign against the live API, by hand: bigger than CI's, or a replay of it.

Starts `evpm api` (gunicorn, 2 workers, auth on) on a fresh SQLite file or a private schema of
a PostgreSQL database, runs schemathesis from the API's own GET /openapi.json (positive and
negative data, every check) and prints the verdict. The same seed sends the same cases as
tests/api/test_fuzz.py does at --scale 1.

    .venv/bin/python scripts/fuzz_api.py                        # SQLite, CI's seed, 10x cases
    .venv/bin/python scripts/fuzz_api.py --database postgresql --scale 1 --seed 20261127
    .venv/bin/python scripts/fuzz_api.py --keep                 # keep the server for replay

With --keep the server stays up after the run (Ctrl-C stops it) and its URL and a token are
printed: send a failure's curl command there with `-H "Authorization: Bearer $TOKEN"`, or
run `st replay ID` (schemathesis' replay of a stored failure; it reads the token from
EVPM_FUZZ_TOKEN) in the run's work folder.
Extra arguments after `--` go to `schemathesis run` (e.g. `-- --phases fuzzing`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.api.fuzzing import (  # noqa: E402 — the checkout's tests package, by path
    DEFAULT_SEED,
    documented_operations,
    fetch_document,
    live_api,
    logged_crashes,
    mint,
    new_secret,
    private_postgres,
    run_campaign,
)

POSTGRES_URL = os.environ.get("EVPM_TEST_POSTGRES_URL",
                              "postgresql://evpm:evpm@localhost:5432/evpm_test")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default=POSTGRES_URL,
                        help="PostgreSQL to use (a private schema is created and dropped)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--scale", type=float, default=10.0,
                        help="cases per operation, as a multiple of CI's (default 10)")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the server log, reports and crash files "
                             "(default: a new temporary one)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the server running after the run, for replaying failures")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="evpm-fuzz-"))
    secret = new_secret()
    with contextlib.ExitStack() as stack:
        if args.database == "sqlite":
            url = f"sqlite:///{work / 'fuzz.db'}"
        else:
            url = stack.enter_context(private_postgres(args.postgres_url))
        api = stack.enter_context(live_api(work / "server", url, secret))
        base, token = f"http://127.0.0.1:{api.port}", mint(secret)
        operations = documented_operations(fetch_document(base))
        print(f"API {base} on {args.database}; fuzzing with seed {args.seed}, "
              f"scale {args.scale:g} …", flush=True)
        campaign = run_campaign(base, token, work / "fuzz", seed=args.seed, scale=args.scale,
                                extra=extra)
        print(campaign.output)
        problems = campaign.problems(operations)
        crashes = logged_crashes((work / "server" / "api.log").read_text())
        if crashes:
            problems += [f"server log: {line} ({count}x)" for line, count in crashes.items()]
        print(f"{args.database}: {campaign.summary()}")
        for problem in problems:
            print(f"  - {problem}")
        print(f"Work folder (server log, reports, crash files): {work}")
        if args.keep:
            # SIGTERM too stops the server (and drops the PostgreSQL schema) on the way out.
            signal.signal(signal.SIGTERM, signal.default_int_handler)
            print(f"\nServer kept at {base} (Ctrl-C stops it). Replay a failure:\n"
                  f"  export TOKEN={token} EVPM_FUZZ_TOKEN={token}\n"
                  f"  curl … -H \"Authorization: Bearer $TOKEN\" …   (the failure's command)\n"
                  f"  cd {work / 'fuzz'} && {Path(sys.executable).with_name('st')} replay ID")
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
