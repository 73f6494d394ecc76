# Sourced by scripts/test and scripts/demo: makes a fresh machine ready.
# Idempotent and quick when everything is already there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CODEX_VENV:-$ROOT/.venv}"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

# apt-get, waiting for another apt (a parallel bootstrap, an unattended upgrade) to let go of its locks.
apt_install() {
    local attempt
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        if apt-get -o DPkg::Lock::Timeout=60 update -qq >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=60 install -y -qq "$@" >/dev/null; then
            return 0
        fi
        log "apt-get is busy or failed (attempt $attempt of 10); retrying in 10 s"
        sleep 10
    done
    log "could not install $*"
    return 1
}

ensure_system_packages() {
    # mysqlclient (the MySQL provider's driver) builds against the MariaDB headers.
    if ! pkg-config --exists mysqlclient 2>/dev/null && ! pkg-config --exists libmariadb 2>/dev/null; then
        log "installing libmariadb-dev and pkg-config (for mysqlclient)"
        apt_install libmariadb-dev pkg-config
    fi
    # The CeleryExecutor deployment of codex_testing.airflow_cluster starts its own Redis (the broker).
    if ! command -v redis-server >/dev/null 2>&1 && [[ ! -x /usr/bin/redis-server ]]; then
        log "installing redis-server (the Celery broker of the test deployments)"
        apt_install redis-server
    fi
    # codex_testing.browser drives Debian's headless Chromium (the report and the Airflow UI view tests).
    if ! command -v chromium >/dev/null 2>&1 && [[ ! -x /usr/bin/chromium ]]; then
        log "installing chromium (the browser tests)"
        apt_install chromium
    fi
}

ensure_venv() {
    local stamp="$VENV/.installed"
    local want
    want="$(cat "$ROOT/requirements/dev.txt" "$ROOT/pyproject.toml" "$ROOT/packages/codex-testing/pyproject.toml" | sha256sum | cut -c1-16)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return
    fi
    log "creating $VENV with the pinned requirements"
    [[ -x "$VENV/bin/python" ]] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "uv==0.13.9" 2>/dev/null
    VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install -q -r "$ROOT/requirements/dev.txt"
    VIRTUAL_ENV="$VENV" "$VENV/bin/uv" pip install -q --no-deps -e "$ROOT" -e "$ROOT/packages/codex-testing"
    echo "$want" >"$stamp"
}

ensure_databases() {
    # PostgreSQL and MariaDB run on every machine of this kind; start them if they stopped.
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        log "starting PostgreSQL"
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    fi
    if ! mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
        log "starting MariaDB"
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
        for _ in $(seq 30); do mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && break; sleep 1; done
    fi
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    psql -h 127.0.0.1 -U postgres -tAc "select 1 from pg_database where datname='test'" 2>/dev/null | grep -q 1 \
        || psql -h 127.0.0.1 -U postgres -c "create database test" >/dev/null 2>&1 || true
    mariadb -h 127.0.0.1 -u root -e "create database if not exists test" >/dev/null 2>&1 || true
}
