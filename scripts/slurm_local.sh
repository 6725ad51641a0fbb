#!/usr/bin/env bash
# A single-node Slurm on this machine, for testing `harness sweep --executor slurm`:
# slurmctld + slurmd on localhost with one `debug` partition holding the machine's cores.
#
#   scripts/slurm_local.sh start|stop|status
#
# Needs root and Debian's packages: apt-get update && apt-get install -y slurm-wlm munge
# State, spool, logs and the munge key live in $SLURM_LOCAL_DIR (default /tmp/slurm-local);
# the configuration goes to /etc/slurm/slurm.conf, where sbatch/squeue look for it, and is
# only ever overwritten when this script wrote it.
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
CONF=/etc/slurm/slurm.conf
MARK="# written by scripts/slurm_local.sh"

die() { echo "slurm_local: $*" >&2; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; move it away first"
    fi
    local cpus mem
    cpus=$(nproc)
    # Leave the OS some memory: slurmd refuses a node that has less than configured.
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p /etc/slurm
    cat > "$CONF" <<CONF
$MARK
ClusterName=local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Trust the node line below instead of probing the hardware (containers, VMs).
SlurmdParameters=config_overrides
# A job whose dependency can never be met is cancelled instead of pending forever.
DependencyParameters=kill_invalid_depend
# Schedule within a second of sbatch, and let finished jobs leave the queue quickly.
SchedulerParameters=sched_interval=1,defer_batch=0
MinJobAge=30
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
    pid_alive "$DIR/munge/munged.pid" && return
    mkdir -p "$DIR/munge"
    chmod 0700 "$DIR/munge"
    [ -f "$DIR/munge/munge.key" ] || mungekey --create --keyfile="$DIR/munge/munge.key"
    munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
        --seed-file="$DIR/munge/munged.seed"
}

wait_ready() {
    local i state
    for i in $(seq 1 60); do
        state=$(sinfo -h -o %t -p debug 2>/dev/null || true)
        case "$state" in
            idle*|mix*|alloc*) return 0 ;;
            # A node left down or drained by an earlier stop comes back.
            down*|drain*) scontrol update NodeName=localhost State=RESUME 2>/dev/null || true ;;
        esac
        sleep 0.5
    done
    die "the node did not come up within 30 s; see $DIR/slurmctld.log and $DIR/slurmd.log"
}

start() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null ||
        die "slurm-wlm and munge are not installed: apt-get update && apt-get install -y slurm-wlm munge"
    [ "$(id -u)" -eq 0 ] || die "start needs root (slurmd runs jobs as their users)"
    mkdir -p "$DIR/state" "$DIR/spool"
    write_conf
    start_munge
    pid_alive "$DIR/slurmctld.pid" || slurmctld
    pid_alive "$DIR/slurmd.pid" || slurmd -N localhost
    wait_ready
    echo "slurm: partition debug on localhost with $(nproc) CPUs (state in $DIR)"
}

stop() {
    local f i
    for f in slurmd slurmctld munge/munged; do
        pid_alive "$DIR/$f.pid" || continue
        kill "$(cat "$DIR/$f.pid")"
        # Wait for the exit, so that a start right after finds nothing half-stopped.
        for i in $(seq 1 40); do
            pid_alive "$DIR/$f.pid" || break
            sleep 0.25
        done
        pid_alive "$DIR/$f.pid" && die "${f#munge/} (pid $(cat "$DIR/$f.pid")) did not exit"
    done
    echo "slurm: stopped"
}

status() {
    local f rc=0
    for f in munge/munged slurmctld slurmd; do
        if pid_alive "$DIR/$f.pid"; then
            echo "${f#munge/}: running (pid $(cat "$DIR/$f.pid"))"
        else
            echo "${f#munge/}: stopped"; rc=1
        fi
    done
    [ "$rc" -eq 0 ] && sinfo
    return "$rc"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
