#!/usr/bin/env bash
# Runs every ludus benchmark; each prints its figures against a baseline measured in the same
# run. Needs the packages scripts/test.sh installs (OpenMPI for the MPI figure, openssh-server and
# rsync for the transfer benchmark).
#
#   scripts/bench.sh            # all
#   scripts/bench.sh plan       # one cargo bench target (plan, run_instances, analysis, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ $# -gt 0 ]; then
  exec cargo bench --features mpi --bench "$1"
fi
for b in benches/*.rs; do
  name=$(basename "$b" .rs)
  echo "== cargo bench --bench $name"
  cargo bench --features mpi --bench "$name"
done
if [ -x scripts/bench-transfer.sh ]; then
  echo "== scripts/bench-transfer.sh"
  scripts/bench-transfer.sh
fi
if [ -x scripts/bench-slurm.sh ] && [ "$(id -u)" -eq 0 ] && [ -x /usr/sbin/slurmctld ]; then
  echo "== scripts/bench-slurm.sh"
  scripts/bench-slurm.sh
fi
