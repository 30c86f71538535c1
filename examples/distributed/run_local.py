"""Starts a chief and N workers of a distributed search on this machine, and waits for them.

    python examples/distributed/run_local.py --workers 2 --directory runs/distributed

Arguments after `--` go to every `search.py` process. On several machines, run `search.py`
yourself on each, with the environment variables this script sets (docs/guides/distributed.md).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time

SEARCH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "search.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(tuner_id: str, port: int, search_args, log_dir: str | None = None,
          script: str = SEARCH) -> subprocess.Popen:
    """Starts one process of the search with KerasTuner's distributed environment."""
    env = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
               KERASTUNER_ORACLE_PORT=str(port))
    out = None
    if log_dir is not None:
        os.makedirs(log_dir, exist_ok=True)
        out = open(os.path.join(log_dir, f"{tuner_id}.log"), "ab")
    return subprocess.Popen([sys.executable, script, *search_args], env=env, stdout=out,
                            stderr=subprocess.STDOUT if out else None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--directory", required=True)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds before giving up")
    args, rest = parser.parse_known_args(argv)
    search_args = ["--directory", args.directory, *[a for a in rest if a != "--"]]
    port = free_port()
    chief = start("chief", port, search_args)
    workers = [start(f"tuner{i}", port, search_args) for i in range(args.workers)]
    deadline = time.monotonic() + args.timeout
    try:
        for process in [*workers, chief]:
            process.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for process in [chief, *workers]:
            if process.poll() is None:
                process.kill()
    failed = [p.args for p in [chief, *workers] if p.returncode != 0]
    if failed:
        sys.exit(f"{len(failed)} process(es) failed")
    print("all processes finished")


if __name__ == "__main__":
    main()
