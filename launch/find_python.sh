# Sourced by the launch scripts: sets $python to an interpreter that has zero-rl and accelerate, in this order:
# $ZERO_RL_PYTHON, the active virtual environment, the project's .venv (what `make setup` builds), python3.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
for candidate in "${ZERO_RL_PYTHON:-}" "${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}" "$root/.venv/bin/python" python3; do
    if [ -n "$candidate" ] && PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" "$candidate" -c "import accelerate, zero_rl.cli" 2>/dev/null; then
        python="$candidate"
        break
    fi
done
if [ -z "${python:-}" ]; then
    echo "$(basename "$0"): no Python with zero-rl and accelerate found (tried \$ZERO_RL_PYTHON, \$VIRTUAL_ENV," \
         "$root/.venv, python3). Run \`make setup\` in $root, activate your environment, or set ZERO_RL_PYTHON." >&2
    exit 2
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
