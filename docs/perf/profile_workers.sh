#!/bin/bash
# py-spy flame graphs of the featurize workers of one `detect` (issue 15).
#
# `py-spy record --subprocesses` does not follow the workers: they are forked by the
# multiprocessing forkserver, not by the process it records. This script starts `detect`,
# finds each worker (a child of the forkserver, itself a child of `detect`) and attaches one
# `py-spy record --pid` to it, writing one SVG and one raw (collapsed stacks) file per worker.
#
#   docs/perf/profile_workers.sh SRC_TREE SIM_DIR OUT_DIR [RATE]
#
# SIM_DIR is a `distillguard simulate` folder (requests.jsonl.gz, accounts.csv). Set
# DISTILLGUARD_CORPORA for real prompt text. Needs py-spy and the right to ptrace the workers.
set -u
TREE=$1; SIM=$2; OUT=$3; RATE=${4:-50}
PY=${PYTHON:-python}; SPY=${PY_SPY:-py-spy}
mkdir -p "$OUT"
# `python -c`: the workers have no main script to import again (see docs/perf/README.md)
PYTHONPATH="$TREE/src" OMP_NUM_THREADS=1 nice "$PY" -c "
from pathlib import Path
from distillguard.engines.embedded import detect
d, o = Path('$SIM'), Path('$OUT')
s = detect(logs=[d / 'requests.jsonl.gz'], accounts=d / 'accounts.csv', out=o / 'out',
           store=o / 'store', progress=False)
print(s['timings_s'], s['resources'])
" > "$OUT/detect.log" 2>&1 &
MAIN=$!
seen=" "
while kill -0 "$MAIN" 2>/dev/null; do
  for fs in $(pgrep -P "$MAIN"); do
    for w in $(pgrep -P "$fs"); do
      case "$seen" in *" $w "*) continue ;; esac
      seen="$seen$w "
      "$SPY" record -r "$RATE" --pid "$w" -o "$OUT/worker-$w.svg" > /dev/null 2>&1 &
      "$SPY" record -r "$RATE" --pid "$w" -f raw -o "$OUT/worker-$w.raw" > /dev/null 2>&1 &
    done
  done
  sleep 0.2
done
wait
echo "workers:$seen"
