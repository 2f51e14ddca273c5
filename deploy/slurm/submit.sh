#!/bin/bash
# Trains a model in N descriptor shards on Slurm: a job array of N tasks, then the merge,
# which starts only when every task succeeded.
# Usage: deploy/slurm/submit.sh CORPUS PARTS_DIR MODEL [N]
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 CORPUS PARTS_DIR MODEL [N]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
CORPUS=$(realpath "$1")
PARTS=$(realpath -m "$2")
MODEL=$(realpath -m "$3")
SHARDS=${4:-3}
export CORPUS PARTS MODEL SHARDS
mkdir -p logs "$PARTS"
array=$(sbatch --parsable --export=ALL --array="1-$SHARDS" "$here/shards.sbatch")
merge=$(sbatch --parsable --export=ALL --dependency="afterok:${array%%;*}" "$here/merge.sbatch")
echo "shards: job $array (array 1-$SHARDS); merge: job $merge (after all shards succeed)"
