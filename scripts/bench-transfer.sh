#!/usr/bin/env bash
# Benchmark `ludus upload` against `rsync -a -e ssh`, `scp -r` and `tar | ssh tar` on a
# throwaway sshd on 127.0.0.1: N files of 1 KiB (default 10,000, in 100 directories), median of
# 3 interleaved rounds, all in the same run so the ratios are fair on a noisy machine.
#
# Needs: openssh-server, openssh-client, rsync (Debian packages). Usage:
#   scripts/bench-transfer.sh [FILES]
set -euo pipefail

FILES=${1:-10000}
REPS=3
cd "$(dirname "$0")/.."
cargo build --release --quiet
LUDUS=$PWD/target/release/ludus

T=$(mktemp -d)
SSHD_PID=
cleanup() {
    if [ -n "$SSHD_PID" ]; then kill "$SSHD_PID" 2>/dev/null || true; fi
    rm -rf "$T"
}
trap cleanup EXIT

# --- a private sshd ---------------------------------------------------------------------------
ssh-keygen -q -t ed25519 -N '' -f "$T/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$T/user_key"
cp "$T/user_key.pub" "$T/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
USER_NAME=$(id -un)
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
CFG
mkdir -p /run/sshd
/usr/sbin/sshd -f "$T/sshd_config" -E "$T/sshd.log"
for _ in $(seq 100); do [ -s "$T/sshd.pid" ] && break; sleep 0.05; done
SSHD_PID=$(cat "$T/sshd.pid")
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$T/host_key.pub")" > "$T/known_hosts"
cat > "$T/ssh_config" <<CFG
Host bench
    HostName 127.0.0.1
    Port $PORT
    User $USER_NAME
    IdentityFile $T/user_key
    UserKnownHostsFile $T/known_hosts
    StrictHostKeyChecking yes
    ControlMaster no
CFG
# The OpenSSH client finds ~/.ssh from the passwd entry, so it gets everything through -F.
SSH="ssh -F $T/ssh_config"
unset SSH_AUTH_SOCK

# --- the data: FILES files of 1 KiB in 100 directories ----------------------------------------
SRC=$T/src
PER_DIR=$(( (FILES + 99) / 100 ))
left=$FILES
for d in $(seq -w 0 99); do
    [ "$left" -le 0 ] && break
    n=$(( left < PER_DIR ? left : PER_DIR ))
    mkdir -p "$SRC/d$d"
    head -c $((n * 1024)) /dev/urandom | (cd "$SRC/d$d" && split -b 1024 -a 4 -d - f)
    left=$((left - n))
done
echo "data: $(find "$SRC" -type f | wc -l) files, $(du -sh "$SRC" | cut -f1); sshd on 127.0.0.1:$PORT"

DST=$T/remote/0
mkdir -p "$T/remote"
now() { date +%s.%N; }
# The load on a shared machine drifts, so the tools take turns: each round runs every command
# once, and each figure is the median over the rounds.
declare -A TIMES
run_timed() { # NAME CMD: append CMD's wall time to TIMES[NAME]
    local t0 t1
    t0=$(now)
    eval "$2" > "$T/out.log" 2>&1 || { echo "$1 failed:"; cat "$T/out.log"; exit 1; }
    t1=$(now)
    TIMES[$1]="${TIMES[$1]:-} $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')"
}
# Each fresh upload goes to a new directory: deleting 10,000 files just before a timed run
# would leave the filesystem busy and penalise whichever tool runs next.
RUN=0
fresh() { RUN=$((RUN + 1)); DST=$T/remote/$RUN; sync; }
median() { printf '%s\n' ${TIMES[$1]} | sort -g | sed -n "$(( (REPS + 1) / 2 ))p"; }

LUDUS_ARGS="-F $T/ssh_config --known-hosts $T/known_hosts --no-agent"
for round in $(seq $REPS); do
    echo "round $round/$REPS"
    fresh; run_timed ludus "$LUDUS upload $LUDUS_ARGS $SRC bench:$DST"
    sync;  run_timed ludus_noop "$LUDUS upload $LUDUS_ARGS $SRC bench:$DST"
    grep -q 'nothing to transfer' "$T/out.log" || { echo "ludus re-run sent files:"; cat "$T/out.log"; exit 1; }
    fresh; run_timed rsync "rsync -a -e '$SSH' $SRC/ bench:$DST/"
    sync;  run_timed rsync_noop "rsync -a -e '$SSH' $SRC/ bench:$DST/"
    fresh; run_timed scp "scp -q -r -F $T/ssh_config $SRC bench:$DST"
    fresh; run_timed tar "tar -C $SRC -cf - . | $SSH bench 'mkdir -p $DST && tar -C $DST -xf -'"
done

ludus_fresh=$(median ludus); ludus_noop=$(median ludus_noop)
rsync_fresh=$(median rsync); rsync_noop=$(median rsync_noop)
scp_fresh=$(median scp); tar_fresh=$(median tar)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '\nupload of %d files of 1 KiB over loopback sshd, median of %d interleaved rounds (seconds)\n' "$FILES" "$REPS"
printf '  %-28s %7.3f   (runs:%s)\n' \
    "ludus upload" "$ludus_fresh" "${TIMES[ludus]}" \
    "ludus upload (no-op re-run)" "$ludus_noop" "${TIMES[ludus_noop]}" \
    "rsync -a -e ssh" "$rsync_fresh" "${TIMES[rsync]}" \
    "rsync (no-op re-run)" "$rsync_noop" "${TIMES[rsync_noop]}" \
    "scp -r" "$scp_fresh" "${TIMES[scp]}" \
    "tar | ssh tar" "$tar_fresh" "${TIMES[tar]}"
printf '\nratios (baseline time / ludus time; > 1 means ludus is faster)\n'
printf '  vs rsync:              %sx\n' "$(ratio "$rsync_fresh" "$ludus_fresh")"
printf '  vs scp -r:             %sx\n' "$(ratio "$scp_fresh" "$ludus_fresh")"
printf '  vs tar | ssh:          %sx\n' "$(ratio "$tar_fresh" "$ludus_fresh")"
printf '  no-op vs rsync no-op:  %sx\n' "$(ratio "$rsync_noop" "$ludus_noop")"
