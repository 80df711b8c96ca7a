#!/usr/bin/env bash
# Benchmark `ludus submit --wait` (upload, sbatch, watch, log download over one SSH session)
# against the same done by hand: rsync up, sbatch of scripts/slurm-array.sbatch, polling squeue
# over ssh, rsync of the logs down (median of 3 interleaved rounds). N short instances (default 1,000: q_learning on river_swim,
# 2,000 steps), 20 array tasks of one CPU each, both polling every second, on a private
# single-node SLURM and a throwaway sshd on 127.0.0.1, in the same run.
#
# Needs root and the Debian packages slurm-wlm, munge, openssh-server, openssh-client, rsync.
#   scripts/bench-slurm.sh [INSTANCES]
set -euo pipefail

N=${1:-1000}
TASKS=20
cd "$(dirname "$0")/.."
cargo build --release --quiet
LUDUS=$PWD/target/release/ludus
TEMPLATE=$PWD/scripts/slurm-array.sbatch

T=$(mktemp -d)
chmod 755 "$T"
PIDS=()
cleanup() {
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
    sleep 1
    rm -rf "$T"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_pid() { for _ in $(seq 200); do [ -s "$1" ] && break; sleep 0.05; done; cat "$1"; }

# --- munge and SLURM ---------------------------------------------------------------------------
mkdir -p "$T/munge" "$T/state" "$T/spool"
head -c 1024 /dev/urandom > "$T/munge/key"
chown -R munge:munge "$T/munge"; chmod 700 "$T/munge"; chmod 400 "$T/munge/key"
su -s /bin/sh munge -c "/usr/sbin/munged --force --socket=$T/munge/sock --key-file=$T/munge/key --pid-file=$T/munge/pid --log-file=$T/munge/log --seed-file=$T/munge/seed"
PIDS+=("$(wait_pid "$T/munge/pid")")
H=$(hostname -s)
cat > "$T/slurm.conf" <<CFG
ClusterName=ludusbench
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerParameters=sched_interval=1
MinJobAge=300
NodeName=$H NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=$H Default=YES MaxTime=INFINITE State=UP
CFG
export SLURM_CONF=$T/slurm.conf
/usr/sbin/slurmctld -f "$SLURM_CONF"; PIDS+=("$(wait_pid "$T/slurmctld.pid")")
/usr/sbin/slurmd -f "$SLURM_CONF"; PIDS+=("$(wait_pid "$T/slurmd.pid")")
for _ in $(seq 300); do [ "$(sinfo -h -o %T)" = idle ] && break; sleep 0.1; done

# --- sshd whose sessions find the scheduler ---------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/user_key"
cp "$T/user_key.pub" "$T/authorized_keys"
PORT=$(free_port)
cat > "$T/sshd_config" <<CFG
Port $PORT
ListenAddress 127.0.0.1
HostKey $T/host_key
AuthorizedKeysFile $T/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PidFile $T/sshd.pid
Subsystem sftp internal-sftp
SetEnv SLURM_CONF=$SLURM_CONF
CFG
mkdir -p /run/sshd
/usr/sbin/sshd -f "$T/sshd_config" -E "$T/sshd.log"; PIDS+=("$(wait_pid "$T/sshd.pid")")
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$T/host_key.pub")" > "$T/known_hosts"
cat > "$T/ssh_config" <<CFG
Host bench
    HostName 127.0.0.1
    Port $PORT
    User $(id -un)
    IdentityFile $T/user_key
    UserKnownHostsFile $T/known_hosts
    StrictHostKeyChecking yes
CFG
SSH="ssh -F $T/ssh_config"
unset SSH_AUTH_SOCK

# --- the experiment -----------------------------------------------------------------------------
cat > "$T/spec.toml" <<SPEC
seeds = $N
steps = 2000
[[agent]]
name = "q_learning"
[[mdp]]
family = "river_swim"
params = { size = 5 }
SPEC
now() { date +%s.%N; }

# ludus: one command.
run_ludus() { # ROUND
    "$LUDUS" plan "$T/spec.toml" --out "$T/a$1" > /dev/null 2>&1
    local t0; t0=$(now)
    "$LUDUS" submit "$T/a$1" "bench:$T/remote-a$1" -F "$T/ssh_config" --known-hosts "$T/known_hosts" \
        --remote-ludus "$LUDUS" --tasks $TASKS --wait --interval 1 > "$T/a$1.out" 2> "$T/a$1.err"
    T_LUDUS+=("$(echo "$(now) - $t0" | bc)")
    DONE_A=$("$LUDUS" status --json "$T/a$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["done"])')
}

# By hand: rsync up, sbatch the template, poll squeue, rsync down.
run_hand() { # ROUND
    "$LUDUS" plan "$T/spec.toml" --out "$T/b$1" --groups $TASKS > /dev/null 2>&1
    local t0 job; t0=$(now)
    rsync -a -e "$SSH" "$T/b$1/" "bench:$T/remote-b$1/"
    job=$($SSH bench "cd $T/remote-b$1 && LUDUS=$LUDUS sbatch --parsable --array=1-$TASKS --cpus-per-task=1 --mem=1M --output=$T/remote-b$1/slurm-%A_%a.out $TEMPLATE $T/remote-b$1")
    while $SSH bench "squeue -h -j $job" 2>/dev/null | grep -q .; do sleep 1; done
    rsync -a -e "$SSH" "bench:$T/remote-b$1/logs/" "$T/b$1/logs/"
    T_HAND+=("$(echo "$(now) - $t0" | bc)")
    DONE_B=$("$LUDUS" status --json "$T/b$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["done"])')
}

# The load on a shared machine drifts: three rounds, alternating which goes first; medians.
T_LUDUS=(); T_HAND=()
for r in 1 2 3; do
    if [ $((r % 2)) -eq 1 ]; then run_ludus $r; run_hand $r; else run_hand $r; run_ludus $r; fi
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
t_ludus=$(median "${T_LUDUS[@]}"); t_hand=$(median "${T_HAND[@]}")
printf 'slurm: %d instances, %d array tasks on %d CPUs, median of 3 rounds\n' "$N" "$TASKS" "$(nproc)"
printf '  ludus submit --wait (upload, sbatch, watch, download)  %6.1f s  (rounds: %s; %s done locally)\n' "$t_ludus" "${T_LUDUS[*]}" "$DONE_A"
printf '  by hand (rsync, sbatch template, squeue poll, rsync)   %6.1f s  (rounds: %s; %s done locally)\n' "$t_hand" "${T_HAND[*]}" "$DONE_B"
printf '  ratio ludus / by hand: %.2f\n' "$(echo "$t_ludus / $t_hand" | bc -l)"
