# Sourced by the scripts: create or reuse .venv and install the project into it.
# Usage: source scripts/_venv.sh [extra]   (extra: e.g. "dev")
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SSL_SKEL_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    echo "[ssl-skel] creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
_extra="${1:-}"
_target="$ROOT"
[ -n "$_extra" ] && _target="$ROOT[$_extra]"
echo "[ssl-skel] installing ssl-skel${_extra:+[$_extra]} into $VENV (first run downloads torch: a few minutes)"
"$VENV/bin/python" -m pip install --quiet -e "$_target"
export PATH="$VENV/bin:$PATH"
PY="$VENV/bin/python"
