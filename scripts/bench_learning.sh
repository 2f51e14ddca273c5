#!/usr/bin/env bash
# The learning benchmark (docs/learning.md): a model grown from half of a corpus by `dtag
# learn`, by the server in requests of 10, and by retraining, and the cost of an update
# against a retrain. Run it on a quiet machine; it takes about half an hour.
#   scripts/bench_learning.sh [--corpora kirjastonhoitaja,cail2018_sample] [--runs 5]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --quiet
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN { exit !(l >= 0.5) }'; then
  echo "warning: load average $load: timings taken now are noise (see DEVELOPERS' standards)" >&2
fi
exec python3 scripts/bench_learning.py "$@"
