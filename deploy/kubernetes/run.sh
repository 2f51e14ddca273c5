#!/bin/sh
# Trains a model in descriptor shards on Kubernetes: the shards' Indexed Job, then the merge.
# Usage: deploy/kubernetes/run.sh [NAMESPACE]   (the corpus already on the dtag-data volume)
set -eu
ns=${1:-default}
here=$(dirname "$0")
kubectl -n "$ns" apply -f "$here/volume.yaml"
kubectl -n "$ns" delete job dtag-shards dtag-merge --ignore-not-found
kubectl -n "$ns" apply -f "$here/shards.yaml"
# Fails (and stops here) when a shard fails for good.
kubectl -n "$ns" wait --for=condition=complete --timeout=24h job/dtag-shards
kubectl -n "$ns" apply -f "$here/merge.yaml"
kubectl -n "$ns" wait --for=condition=complete --timeout=24h job/dtag-merge
kubectl -n "$ns" logs job/dtag-merge
