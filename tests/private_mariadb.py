"""A private, throwaway MariaDB server that a test may stop, kill and restart.

The shared server on 127.0.0.1:3306 is never restarted; this one has its own data directory
(made by mariadb-install-db in a temp folder), its own socket and a free loopback port, and
lets root in over TCP with an empty password.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pymysql
from lead_archive_server.core.database_url import DatabaseUrl

MARIADBD = os.environ.get("BOOTSTRAP_MARIADBD", "/usr/sbin/mariadbd")
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def available() -> str | None:
    """Why a private server cannot run here, or None when it can."""
    if not Path(MARIADBD).is_file():
        return f"{MARIADBD} not found"
    if not shutil.which("mariadb-install-db"):
        return "mariadb-install-db not found"
    return None


class PrivateMariaDB:
    """One mariadbd process over one data directory; start, stop and restart it at will."""

    def __init__(self, base: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.base = base
        self.extra_args = extra_args  # e.g. a binary log and a server id, for replication
        self.datadir = base / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as_root = ["--user=root"] if os.geteuid() == 0 else []
        self._small = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M"]
        # Its own temp folder: at start-up mariadbd deletes every #sql* file in its tmpdir,
        # and in the default /tmp those include the shared server's live temporary tables
        # (seen here: "Error on delete of '/tmp/#sql-temptable-…'", then a SIGSEGV in
        # ha_maria::drop_table that took the shared server down).
        self.tmpdir = base / "tmp"
        self._small.append(f"--tmpdir={self.tmpdir}")

    @property
    def url(self) -> DatabaseUrl:
        return DatabaseUrl("127.0.0.1", self.port, "root", "", "")

    def install(self) -> None:
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *self._as_root,
                *self._small,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        """Start mariadbd and wait until root can log in over TCP."""
        assert self.process is None, "already running"
        log = open(self.base / "error.log", "ab")  # noqa: SIM115 (kept open by the child)
        self.process = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--socket={self.base / 'mariadb.sock'}",
                f"--pid-file={self.base / 'mariadb.pid'}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--skip-log-bin",
                "--max-connections=200",
                *self._as_root,
                *self._small,
                *self.extra_args,
            ],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        self._wait_ready()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop it: SIGTERM is a clean shutdown, SIGKILL a crash."""
        assert self.process is not None, "not running"
        self.process.send_signal(sig)
        self.process.wait(timeout=120)
        self.process = None

    def restart(self, sig: signal.Signals = signal.SIGTERM) -> None:
        self.stop(sig)
        self.start()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited: {self.error_log()[-2000:]}")
            try:
                pymysql.connect(
                    host="127.0.0.1", port=self.port, user="root", connect_timeout=2
                ).close()
                return
            except pymysql.err.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"mariadbd not ready: {self.error_log()[-2000:]}") from None
                time.sleep(0.1)  # the poll's interval, within the deadline (in a thread)

    def error_log(self) -> str:
        path = self.base / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""
