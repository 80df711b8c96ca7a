#!/usr/bin/env bash
# Benchmark `ludus upload` against `rsync -a -e ssh`, `scp -r` and `tar | ssh tar` on a
# throwaway sshd on 127.0.0.1: N files of 1 KiB (default 10,000, in 100 directories), median of
# 3 runs each, all in the same run so the ratios are fair on a noisy machine.
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

DST=$T/remote
now() { date +%s.%N; }
# time_cmd NAME PREP CMD: median of REPS wall times of CMD, PREP run (untimed) before each.
time_cmd() {
    local name=$1 prep=$2 cmd=$3 times=() t0 t1
    for _ in $(seq $REPS); do
        eval "$prep"
        t0=$(now)
        eval "$cmd" > "$T/out.log" 2>&1 || { echo "$name failed:"; cat "$T/out.log"; exit 1; }
        t1=$(now)
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')")
    done
    printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (REPS + 1) / 2 ))p"
}

FRESH='rm -rf "$DST"; sync'
KEEP='sync'
LUDUS_ARGS="-F $T/ssh_config --known-hosts $T/known_hosts --no-agent"
ludus_fresh=$(time_cmd "ludus upload" "$FRESH" "$LUDUS upload $LUDUS_ARGS $SRC bench:$DST")
ludus_noop=$(time_cmd "ludus re-upload" "$KEEP" "$LUDUS upload $LUDUS_ARGS $SRC bench:$DST")
rsync_fresh=$(time_cmd "rsync" "$FRESH" "rsync -a -e '$SSH' $SRC/ bench:$DST/")
rsync_noop=$(time_cmd "rsync re-run" "$KEEP" "rsync -a -e '$SSH' $SRC/ bench:$DST/")
scp_fresh=$(time_cmd "scp -r" "$FRESH" "scp -q -r -F $T/ssh_config $SRC bench:$DST")
tar_fresh=$(time_cmd "tar | ssh" "$FRESH" "tar -C $SRC -cf - . | $SSH bench 'mkdir -p $DST && tar -C $DST -xf -'")

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
printf '\nupload of %d files of 1 KiB over loopback sshd, median of %d (seconds)\n' "$FILES" "$REPS"
printf '  %-28s %7.3f\n' "ludus upload" "$ludus_fresh" "ludus upload (no-op re-run)" "$ludus_noop" \
    "rsync -a -e ssh" "$rsync_fresh" "rsync (no-op re-run)" "$rsync_noop" "scp -r" "$scp_fresh" "tar | ssh tar" "$tar_fresh"
printf '\nratios (baseline time / ludus time; > 1 means ludus is faster)\n'
printf '  vs rsync:              %sx\n' "$(ratio "$rsync_fresh" "$ludus_fresh")"
printf '  vs scp -r:             %sx\n' "$(ratio "$scp_fresh" "$ludus_fresh")"
printf '  vs tar | ssh:          %sx\n' "$(ratio "$tar_fresh" "$ludus_fresh")"
printf '  no-op vs rsync no-op:  %sx\n' "$(ratio "$rsync_noop" "$ludus_noop")"
