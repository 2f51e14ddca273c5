#!/usr/bin/env bash
# A real Slurm for the shard scripts (issue 25): starts a one-node Slurm on this machine from
# Debian's packages (munge, slurm-wlm; installed when missing), with a private munge key, a
# slurm.conf for this host and its cores, and munged, slurmctld and slurmd running from a
# scratch directory; submits deploy/slurm/submit.sh for ../shared/corpora/cail2018_sample with
# 3 shards, waits for the job array and the merge that depends on it, and checks that the
# merged model is byte-identical to a whole `dtag train` of the same corpus ("identical").
# Shows the squeue and sacct (job completion log) views of the run. Stops the daemons it
# started, by their PIDs, whatever happens.
#
# Usage: scripts/test_slurm.sh [CORPUS_DIR]   (default: ../shared/corpora/cail2018_sample)
# Needs root (apt-get, daemons); keeps its files in a temporary directory, removed at the end
# (DTAG_KEEP_SLURM_DIR=1 keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CORPUS_DIR=${1:-../shared/corpora/cail2018_sample}
SHARDS=3
[[ -d $CORPUS_DIR ]] || { echo "no corpus at $CORPUS_DIR" >&2; exit 2; }
CORPUS=$(realpath "$CORPUS_DIR/train.txt")

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm munge >/dev/null
fi

cargo build --release --quiet
DTAG_DIR=$TARGET_DIR/release
export PATH="$DTAG_DIR:$PATH"

WORK=$(mktemp -d /tmp/dtag-slurm.XXXXXX)
chmod 0755 "$WORK"
PIDS=()
cleanup() {
  local status=$?
  # Jobs first (the daemons must be up to cancel them), then the daemons, newest first.
  if [[ -n ${SLURM_CONF:-} && -S $WORK/munge/munge.socket ]]; then
    scancel --quiet --user=root 2>/dev/null || true
  fi
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "${PIDS[i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${PIDS[i]}" 2>/dev/null || true
  done
  if [[ $status != 0 ]]; then
    for log in "$WORK"/*.log "$WORK"/run/logs/*; do
      [[ -f $log ]] && { echo "--- $log" >&2; tail -n 30 "$log" >&2; }
    done
  fi
  if [[ -z ${DTAG_KEEP_SLURM_DIR:-} ]]; then rm -rf "$WORK"; else echo "kept $WORK"; fi
}
trap cleanup EXIT

# munge: a fresh key, and a socket of our own (AuthInfo below), so nothing of the machine's
# own munge (if any) is touched. munged refuses to run as root without --force.
mkdir -p "$WORK/munge"
chmod 0700 "$WORK/munge"
dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$WORK/munge/munge.key"
munged --foreground --force \
  --key-file="$WORK/munge/munge.key" \
  --socket="$WORK/munge/munge.socket" \
  --pid-file="$WORK/munge/munged.pid" \
  --seed-file="$WORK/munge/munge.seed" \
  --log-file="$WORK/munged.log" 2>"$WORK/munged.out" &
PIDS+=($!)
for _ in $(seq 100); do [[ -S $WORK/munge/munge.socket ]] && break; sleep 0.1; done
[[ -S $WORK/munge/munge.socket ]] || { echo "munged did not start" >&2; exit 1; }

HOST=$(hostname -s)
CPUS=$(nproc)
MEMORY_MB=$(awk '/MemTotal/ { print int($2 / 1024) - 1024 }' /proc/meminfo)
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/run"
export SLURM_CONF=$WORK/slurm.conf
cat >"$SLURM_CONF" <<EOF
# One node: this machine, $CPUS cores. Written by scripts/test_slurm.sh.
ClusterName=dtagci
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$WORK/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# No slurmdbd here: sacct reads the job completion log (sacct --completion).
JobCompType=jobcomp/filetxt
JobCompLoc=$WORK/jobcomp.log
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -D -i -f "$SLURM_CONF" >"$WORK/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" >"$WORK/slurmd.out" 2>&1 &
PIDS+=($!)
ready=
for _ in $(seq 120); do
  if sinfo --noheader --states=idle --format=%n 2>/dev/null | grep -qx "$HOST"; then
    ready=1
    break
  fi
  sleep 0.5
done
[[ -n $ready ]] || { echo "the Slurm node did not become idle" >&2; sinfo >&2 || true; exit 1; }
sinfo

# The run, as a user would submit it: the array of shards, then the merge (afterok).
cd "$WORK/run"
submitted=$(bash "$ROOT/deploy/slurm/submit.sh" "$CORPUS" parts model.dtag "$SHARDS")
echo "$submitted"
array=$(sed -n 's/^shards: job \([0-9]*\).*/\1/p' <<<"$submitted")
merge=$(sed -n 's/.*merge: job \([0-9]*\).*/\1/p' <<<"$submitted")
[[ -n $array && -n $merge ]] || { echo "cannot read the job ids from: $submitted" >&2; exit 1; }
echo "squeue right after submitting:"
squeue --format="%.8i %.12j %.10T %.12r %.6D %R" --jobs="$array,$merge"

deadline=$((SECONDS + 1200))
shown=
while queue=$(squeue --noheader --format=%T --jobs="$array,$merge" 2>/dev/null) && [[ -n $queue ]]; do
  if [[ -z $shown ]] && grep -q RUNNING <<<"$queue"; then
    echo "squeue while the array runs:"
    squeue --format="%.8i %.12j %.10T %.12r %.6D %R" --jobs="$array,$merge"
    shown=1
  fi
  if ((SECONDS > deadline)); then
    echo "the jobs did not finish within 20 minutes" >&2
    squeue >&2
    exit 1
  fi
  sleep 1
done
# No slurmdbd here: sacct reads the job completion log. (Slurm 22.05's sacct cannot parse
# the array fields of that log and says so on stderr; array tasks show their own job ids.)
echo "sacct --completion (the job completion log):"
sacct --completion --format=JobID,JobName,Partition,NCPUS,State,ExitCode,Elapsed 2>/dev/null \
  | tee "$WORK/sacct.txt"
states=$(sacct --completion --noheader --parsable2 --format=JobID,JobName,State 2>/dev/null \
  | grep -E "\|dtag-(shard|merge)\|" || true)
failed=$(awk -F'|' '$3 != "COMPLETED"' <<<"$states")
if [[ -n $failed || $(grep -c . <<<"$states") -ne $((SHARDS + 1)) ]]; then
  echo "not every job completed:" >&2
  echo "$states" >&2
  for log in logs/*; do echo "--- $log" >&2; cat "$log" >&2; done
  exit 1
fi
ls -l parts model.dtag

# The same corpus and settings, trained whole outside Slurm.
dtag --threads 2 -q train --corpus "$CORPUS" --model whole.dtag
if cmp model.dtag whole.dtag; then
  echo "identical: the model merged from $SHARDS Slurm shards equals the whole run ($(stat -c %s whole.dtag) bytes)"
else
  echo "the merged model differs from the whole run" >&2
  exit 1
fi
