#!/usr/bin/env bash
# The `gpu` extra installs from PyPI alone and imports completely, checked on any machine (a
# GPU is not needed): builds a venv with ".[gpu,test]", imports every GPU library and every
# engine module that imports one (bench/gpu_imports.py, imports inside functions included),
# then runs the engine with backend=auto (must fall back to the CPU with one log line saying
# why) and backend=gpu (must stop with one `error:` line, exit 2).
#
# Rerun after any change to the `gpu` extra or to a module that imports a GPU library, and
# record the summary in docs/gpu.md. Too heavy for every CI run (~9 GB of wheels).
#   bench/gpu_env.sh [VENV]      (default .venv-gpu, reused when it exists)
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv-gpu}
OUT=$(mktemp -d)
status=0
step() { printf '\n== %s\n' "$*"; }
result() {  # name, exit status
  if [ "$2" -eq 0 ]; then echo "PASS $1"; else echo "FAIL $1"; status=1; fi
  summary+=("$([ "$2" -eq 0 ] && echo PASS || echo FAIL) $1")
}
summary=()

step "venv $VENV with .[gpu,test] from PyPI alone"
# PyPI alone: no local wheel folders or extra indexes from this machine's pip configuration.
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL PIP_INDEX_URL PIP_NO_INDEX
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip \
  && "$VENV/bin/python" -m pip install -q -e ".[gpu,test]"
result "install .[gpu,test] from PyPI" $?
"$VENV/bin/python" -m pip list --format=freeze 2>/dev/null \
  | grep -iE '^(cupy|cuml|pylibcugraph|cuvs|rmm|libcuvs|librmm|torch|faiss|dask-cuda|numba|cuda-bindings|nvidia-cuda-nvrtc|fast[-_]hdbscan|hdbscan|leidenalg|igraph)' \
  | tr '\n' ' '; echo
echo "packages: $("$VENV/bin/python" -m pip list --format=freeze 2>/dev/null | wc -l)," \
  "size: $(du -sh "$VENV" | cut -f1)"
"$VENV/bin/python" -m pip check >/dev/null 2>&1; result "pip check (no broken requirements)" $?

step "imports (bench/gpu_imports.py)"
"$VENV/bin/python" bench/gpu_imports.py | tee "$OUT/imports.txt"
result "GPU libraries and engine GPU modules import" "${PIPESTATUS[0]}"

# One run of the engine; checks its exit status and the lines the contract asks for.
run_engine() {  # name, expected exit status, grep pattern that must match exactly one line
  local name=$1 want=$2 pattern=$3; shift 3
  "$VENV/bin/python" -m engine "$@" hydra.run.dir="$OUT/$name" >"$OUT/$name.out" 2>&1
  local rc=$? n
  n=$(grep -cE "$pattern" "$OUT/$name.out")
  echo "python -m engine $*: exit $rc; $(grep -E "$pattern" "$OUT/$name.out" | head -1)"
  grep -E "Traceback" "$OUT/$name.out" | head -3
  [ "$rc" -eq "$want" ] && [ "$n" -eq 1 ]
}

step "python -m engine backend=auto (must fall back to the CPU, one line saying why)"
run_engine auto 0 "backend=auto: running on the CPU" backend=auto
result "backend=auto falls back to the CPU and finishes" $?
run_engine auto_communities 0 "backend=auto: running on the CPU" job=communities backend=auto
result "job=communities backend=auto falls back to the CPU and finishes" $?

step "python -m engine backend=gpu (must stop with one error line, exit 2)"
run_engine gpu 2 "^error: " backend=gpu
result "backend=gpu without a GPU: one error line, exit 2" $?
grep -q Traceback "$OUT/gpu.out" && { echo "FAIL a traceback was printed"; status=1; }

step "summary"
printf '%s\n' "${summary[@]}"
rm -rf "$OUT"
exit $status
