#!/usr/bin/env bash
# Set up everything lead-archive needs on a fresh Debian/Ubuntu machine, idempotently:
#   1. Python >= 3.11 with venv, the project venv in .venv, the generated protobuf code,
#      and `pip install -e ./clients -e '.[dev]'` (skipped while .venv/.stamp is newer than pyproject.toml);
#   2. a MariaDB server answering at the database URL (installed and/or started if needed);
#   3. the buf CLI, from the npm package @bufbuild/buf, in .tools/.
# Used by scripts/test.sh and scripts/demo.sh; safe to run by hand from any directory.
#
# Environment (all optional):
#   LEAD_ARCHIVE_TEST_DATABASE_URL  database the tests use (checked first)
#   LEAD_ARCHIVE_DATABASE_URL       otherwise this one; default mysql://root@127.0.0.1:3306
#   BOOTSTRAP_DRY_RUN=1             print what would change the machine instead of doing it
#   BOOTSTRAP_PYTHON=/path/python3  interpreter to build .venv from (default: first >= 3.11)
#   BOOTSTRAP_MARIADBD=/path        MariaDB server binary (default /usr/sbin/mariadbd)
#   BOOTSTRAP_MARIADB_SOCKET=/path  socket for root's admin login (default: from my.cnf)
#   BOOTSTRAP_LIB_ONLY=1            when sourced: define the functions, run nothing
set -euo pipefail

bs_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bs_dry_run="${BOOTSTRAP_DRY_RUN:-0}"
bs_mariadbd="${BOOTSTRAP_MARIADBD:-/usr/sbin/mariadbd}"
bs_db_socket="${BOOTSTRAP_MARIADB_SOCKET:-}"
bs_db_url="${LEAD_ARCHIVE_TEST_DATABASE_URL:-${LEAD_ARCHIVE_DATABASE_URL:-mysql://root@127.0.0.1:3306}}"
bs_db_wait_seconds=30
bs_buf_npm_spec="@bufbuild/buf@1.75.0"
bs_apt_updated=0
bs_py=""
bs_db_state=""

bs_log() { printf '[bootstrap] %s\n' "$*" >&2; }
bs_die() {
  bs_log "ERROR: $*"
  exit 1
}
bs_is_dry() { [[ "$bs_dry_run" != 0 && -n "$bs_dry_run" ]]; }

# Run a command that changes the machine or the work tree; in dry-run mode only show it.
bs_act() {
  if bs_is_dry; then
    bs_show "$@"
    return 0
  fi
  "$@"
}

bs_show() {
  if [[ "$1" == bs_as_root ]]; then
    shift
    bs_log "(dry-run) would run as root: $*"
  else
    bs_log "(dry-run) would run: $*"
  fi
}

# Run a command as root: directly, or through sudo (never prompting when there is no terminal).
bs_as_root() {
  if [[ $EUID -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    if [[ -t 0 ]]; then sudo "$@"; else sudo -n "$@"; fi
  else
    bs_die "need root for '$*': run as root or install sudo"
  fi
}

# Run a noisy command with its output kept in a temp file, shown only if it fails.
bs_quiet() {
  local what=$1 log rc=0
  shift
  if bs_is_dry; then
    bs_show "$@"
    return 0
  fi
  log="$(mktemp "${TMPDIR:-/tmp}/lead-archive-bootstrap.XXXXXX")"
  "$@" </dev/null >"$log" 2>&1 || rc=$?
  if [[ $rc -ne 0 ]]; then
    tail -n 40 "$log" >&2 || true
    rm -f "$log"
    bs_die "$what failed (exit $rc): $*"
  fi
  rm -f "$log"
}

bs_apt_install() {
  command -v apt-get >/dev/null 2>&1 ||
    bs_die "apt-get not found: install $* by hand (this script knows Debian/Ubuntu only)"
  if [[ $bs_apt_updated -eq 0 ]]; then
    bs_log "apt-get update"
    bs_quiet "apt-get update" bs_as_root env DEBIAN_FRONTEND=noninteractive apt-get -q update
    bs_apt_updated=1
  fi
  bs_log "apt-get install $*"
  bs_quiet "apt-get install $*" bs_as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "$@"
}

bs_apt_has() { apt-cache show "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- Python

bs_py_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; }

bs_find_python() {
  local cand
  for cand in ${BOOTSTRAP_PYTHON:-} python3 python3.13 python3.12 python3.11; do
    if command -v "$cand" >/dev/null 2>&1 && bs_py_ok "$cand"; then
      # The real interpreter, not a pyenv/asdf shim.
      "$cand" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

bs_ensure_python() {
  if ! bs_py="$(bs_find_python)"; then
    bs_log "no python3 >= 3.11 found; installing one"
    bs_apt_install python3 python3-venv
    if ! bs_py="$(bs_find_python)" && bs_apt_has python3.11; then
      bs_apt_install python3.11 python3.11-venv # e.g. Ubuntu 22.04, whose python3 is 3.10
    fi
    bs_py="$(bs_find_python)" || bs_is_dry || bs_die "python3 >= 3.11 is needed"
    [[ -n "$bs_py" ]] || bs_die "(dry-run) no python3 >= 3.11 to go on with"
  fi
  # Debian/Ubuntu split venv/ensurepip out of the interpreter package.
  if ! "$bs_py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    local ver pkgs=(python3-venv)
    ver="$("$bs_py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    bs_log "$bs_py has no working venv module; installing python3-venv"
    if [[ $bs_apt_updated -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      bs_quiet "apt-get update" bs_as_root env DEBIAN_FRONTEND=noninteractive apt-get -q update
      bs_apt_updated=1
    fi
    if bs_apt_has "python${ver}-venv"; then pkgs+=("python${ver}-venv"); fi
    bs_apt_install "${pkgs[@]}"
    "$bs_py" -c 'import venv, ensurepip' >/dev/null 2>&1 || bs_is_dry ||
      bs_die "$bs_py still cannot create a venv (is it a Debian python? try BOOTSTRAP_PYTHON=)"
  fi
}

bs_venv_ok() {
  [[ -x .venv/bin/python ]] && bs_py_ok .venv/bin/python &&
    .venv/bin/python -m pip --version >/dev/null 2>&1
}

bs_gen_protos() {
  bs_quiet "protobuf code generation" .venv/bin/python clients/gen_protos.py
}

bs_ensure_venv() {
  local pip=(env PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 .venv/bin/python -m pip install -q)
  if ! bs_venv_ok; then
    if [[ -e .venv ]]; then
      bs_log "recreating broken or too old .venv with $bs_py"
      bs_quiet "venv creation" "$bs_py" -m venv --clear .venv
    else
      bs_log "creating .venv with $bs_py"
      bs_quiet "venv creation" "$bs_py" -m venv .venv
    fi
  fi
  if bs_is_dry && ! bs_venv_ok; then
    bs_log "(dry-run) would upgrade pip, install grpcio-tools mypy-protobuf, generate protos,"
    bs_log "(dry-run) then pip install -e ./clients -e '.[dev]' and touch .venv/.stamp"
    return 0
  fi
  if [[ -f .venv/.stamp && .venv/.stamp -nt pyproject.toml && .venv/.stamp -nt clients/pyproject.toml ]]; then
    bs_log "python deps up to date (.venv/.stamp newer than both pyproject.toml); generating protos"
    bs_gen_protos
    return 0
  fi
  bs_log "installing python deps into .venv (pip install -e ./clients -e '.[dev]')"
  bs_quiet "pip upgrade" "${pip[@]}" --upgrade pip
  # gen_protos needs these, and the package needs its output before it can be installed.
  if ! .venv/bin/python -c 'import grpc_tools, mypy_protobuf' >/dev/null 2>&1 ||
    [[ ! -x .venv/bin/protoc-gen-mypy_grpc ]]; then
    bs_quiet "pip install grpcio-tools mypy-protobuf" "${pip[@]}" grpcio-tools==1.85.1 mypy-protobuf==5.1.0
  fi
  bs_gen_protos
  bs_quiet "pip install -e '.[dev]'" "${pip[@]}" -e '.[dev]'
  # The service names the client by its folder, which pip installs as a copy: make it
  # editable again so that changes under clients/ take effect without a reinstall.
  bs_quiet "pip install -e ./clients" "${pip[@]}" --no-deps -e ./clients
  bs_act touch .venv/.stamp
}

# ---------------------------------------------------------------- MariaDB

# Print host, port, user, password, database of a mysql:// URL, one per line.
bs_parse_db_url() {
  "$bs_py" - "$1" <<'PY'
import sys
from urllib.parse import unquote, urlsplit

u = urlsplit(sys.argv[1])
print(u.hostname or "127.0.0.1")
print(u.port or 3306)
print(unquote(u.username or "root"))
print(unquote(u.password or ""))
print(u.path.lstrip("/").split("/")[0])
PY
}

# True when a MySQL/MariaDB server answers on HOST:PORT (it sends its greeting or an error packet).
bs_db_answers() {
  "$bs_py" - "$1" "$2" <<'PY'
import socket
import sys

try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as s:
        s.settimeout(2)
        head = s.recv(5)
except OSError:
    sys.exit(1)
# 4-byte packet header, then 10 (protocol v10 handshake) or 0xff (error packet).
sys.exit(0 if len(head) == 5 and head[4] in (10, 0xFF) else 1)
PY
}

# True when USER (password $4) can log in over TCP, after running the SQL statements $5...
# if any; prints the error otherwise.
bs_db_login() {
  BS_DB_PASSWORD="$4" .venv/bin/python - "$1" "$2" "$3" "${@:5}" <<'PY'
import os
import sys

import pymysql

try:
    conn = pymysql.connect(
        host=sys.argv[1], port=int(sys.argv[2]), user=sys.argv[3],
        password=os.environ["BS_DB_PASSWORD"], connect_timeout=5,
    )
    with conn, conn.cursor() as cur:
        for sql in sys.argv[4:]:
            cur.execute(sql)
except Exception as exc:
    print(exc)
    sys.exit(1)
PY
}

bs_wait_db() {
  local host=$1 port=$2 show_log=$3 i
  if bs_is_dry; then
    bs_log "(dry-run) would wait up to ${bs_db_wait_seconds}s for MariaDB on $host:$port"
    return 0
  fi
  for ((i = 0; i < bs_db_wait_seconds; i++)); do
    bs_db_answers "$host" "$port" && return 0
    sleep 1
  done
  if [[ $show_log -eq 1 && -r /var/log/mysql/error.log ]]; then
    tail -n 20 /var/log/mysql/error.log >&2 || true
  fi
  bs_die "MariaDB did not answer on $host:$port within ${bs_db_wait_seconds}s"
}

bs_ssd() { command -v start-stop-daemon || echo /sbin/start-stop-daemon; }

bs_mariadbd_running() { [[ -x "$bs_mariadbd" ]] && "$(bs_ssd)" --status --exec "$bs_mariadbd"; }

bs_start_mariadb() {
  local ssd
  ssd="$(bs_ssd)"
  bs_log "starting MariaDB ($bs_mariadbd)"
  bs_act bs_as_root install -d -o mysql -g mysql -m 0755 /run/mysqld
  if [[ -d /var/lib/mysql && ! -d /var/lib/mysql/mysql ]]; then
    bs_log "initialising /var/lib/mysql"
    bs_quiet "mariadb-install-db" bs_as_root mariadb-install-db --user=mysql \
      --datadir=/var/lib/mysql
  fi
  bs_quiet "start-stop-daemon" bs_as_root "$ssd" --start --oknodo --background \
    --exec "$bs_mariadbd" -- --user=mysql
}

# Let root log in over TCP with an empty password. Only ever called for a server that this
# run installed or started: Debian's root@localhost uses unix_socket auth, which TCP can't use.
bs_fix_root_auth() {
  local host=$1 port=$2 err client sql
  if bs_is_dry; then
    bs_log "(dry-run) would let root log in over TCP with an empty password (via the socket)"
    return 0
  fi
  if err="$(bs_db_login "$host" "$port" root '')"; then
    return 0
  fi
  bs_log "root cannot log in over TCP ($err); switching it to an empty password"
  client="$(command -v mariadb || command -v mysql)" || bs_die "no mariadb client found"
  # root@localhost matches TCP from 127.0.0.1 unless skip-name-resolve is on: then only
  # root@127.0.0.1 does, so make sure both exist.
  sql="ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('');"
  sql+=" CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'"
  sql+=" IDENTIFIED VIA mysql_native_password USING PASSWORD('');"
  sql+=" GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
  sql+=" FLUSH PRIVILEGES;"
  local sock=(--protocol=socket)
  if [[ -n "$bs_db_socket" ]]; then sock+=("--socket=$bs_db_socket"); fi
  bs_quiet "ALTER USER root" bs_as_root "$client" "${sock[@]}" -u root -e "$sql"
  err="$(bs_db_login "$host" "$port" root '')" ||
    bs_die "root still cannot log in over TCP on $host:$port: $err"
}

bs_ensure_mariadb() {
  local -a parsed
  local host port user password db err owned=1
  mapfile -t parsed < <(bs_parse_db_url "$bs_db_url")
  [[ ${#parsed[@]} -eq 5 ]] || bs_die "cannot parse the database URL"
  host=${parsed[0]} port=${parsed[1]} user=${parsed[2]} password=${parsed[3]} db=${parsed[4]}

  if bs_db_answers "$host" "$port"; then
    bs_db_state="MariaDB on $host:$port (already running)"
    bs_log "MariaDB answers on $host:$port; leaving it as it is"
    if [[ -x .venv/bin/python ]] && .venv/bin/python -c 'import pymysql' 2>/dev/null &&
      ! err="$(bs_db_login "$host" "$port" "$user" "$password")"; then
      bs_log "warning: cannot log in as '$user' there ($err); not changing that server's users"
    fi
    return 0
  fi
  case "$host" in
    127.0.0.1 | localhost | ::1) ;;
    *)
      bs_log "warning: nothing answers on $host:$port and it is not local: not starting MariaDB"
      bs_db_state="MariaDB on $host:$port NOT reachable"
      return 0
      ;;
  esac
  bs_log "nothing answers on $host:$port"
  if [[ ! -x "$bs_mariadbd" ]]; then
    bs_log "MariaDB is not installed; installing mariadb-server"
    bs_apt_install mariadb-server mariadb-client
    bs_db_state="MariaDB on $host:$port (installed and started)"
  elif bs_mariadbd_running; then
    # Not ours to reconfigure: it may just be starting up, or listen elsewhere.
    bs_log "$bs_mariadbd is already running; waiting for it on $host:$port"
    bs_db_state="MariaDB on $host:$port (was already running)"
    owned=0
  else
    bs_db_state="MariaDB on $host:$port (started)"
  fi
  # The package may have started it already; start it unless it answers.
  if [[ $owned -eq 1 ]] && { bs_is_dry || ! bs_db_answers "$host" "$port"; }; then
    bs_start_mariadb
  fi
  bs_wait_db "$host" "$port" "$owned"
  if [[ $owned -eq 0 ]]; then
    if ! bs_is_dry && ! err="$(bs_db_login "$host" "$port" "$user" "$password")"; then
      bs_log "warning: cannot log in as '$user' ($err); not changing that server's users"
    fi
  elif [[ "$user" == root && -z "$password" ]]; then
    bs_fix_root_auth "$host" "$port"
    if [[ -n "$db" ]] && ! bs_is_dry; then
      err="$(bs_db_login "$host" "$port" root '' "CREATE DATABASE IF NOT EXISTS \`${db//\`/}\`")" ||
        bs_die "cannot create database $db: $err"
    fi
  elif ! bs_is_dry && ! err="$(bs_db_login "$host" "$port" "$user" "$password")"; then
    bs_log "warning: cannot log in as '$user' ($err); bootstrap only sets up root"
  fi
  bs_is_dry && bs_db_state+=" [dry-run]"
  return 0
}

# ---------------------------------------------------------------- buf

bs_ensure_buf() {
  local buf=.tools/node_modules/.bin/buf
  if [[ -x "$buf" ]]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    bs_log "npm not found; installing nodejs and npm"
    bs_apt_install nodejs npm
  fi
  bs_log "installing $bs_buf_npm_spec into .tools/"
  bs_quiet "npm install $bs_buf_npm_spec" npm install --prefix .tools --no-audit --no-fund \
    --no-update-notifier --loglevel=error "$bs_buf_npm_spec"
  [[ -x "$buf" ]] || bs_is_dry || bs_die "npm install did not produce $buf"
}

# ---------------------------------------------------------------- main

bs_main() {
  cd "$bs_root"
  bs_is_dry && bs_log "dry-run: nothing outside this script's own checks will be changed"
  # Serialise concurrent runs on one checkout (pip and gen_protos must not interleave).
  if command -v flock >/dev/null 2>&1; then
    local lock
    lock="${TMPDIR:-/tmp}/lead-archive-bootstrap-$(printf '%s' "$bs_root" | cksum | cut -d' ' -f1).lock"
    exec 9>"$lock"
    flock -w 900 9 || bs_die "another bootstrap of $bs_root holds $lock"
  fi

  bs_ensure_python
  bs_ensure_venv
  bs_ensure_mariadb
  bs_ensure_buf

  local pyver bufver
  pyver="$(.venv/bin/python -c 'import platform; print(platform.python_version())' 2>/dev/null ||
    echo '?')"
  bufver="$(.tools/node_modules/.bin/buf --version 2>/dev/null || echo '?')"
  if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
  bs_log "ready: python $pyver in .venv, protos generated, $bs_db_state, buf $bufver in .tools"
}

if [[ "${BOOTSTRAP_LIB_ONLY:-0}" == 0 ]]; then
  bs_main
fi
