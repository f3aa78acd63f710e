#!/usr/bin/env bash
# A one-node SLURM cluster with accounting, from Debian's packages, for the cluster test
# (tests/test_cluster.py) and for trying the slurm profile on one machine. Needs root;
# `make cluster` runs it. No systemd: every daemon is started by hand and stopped by
# stop.sh through its pid file. Safe to run again: a running daemon is left alone.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
    echo "start.sh: needs root (it installs packages and starts daemons)" >&2
    exit 1
fi
missing=""
for binary in slurmctld slurmd slurmdbd munged mariadbd; do
    command -v "$binary" >/dev/null || missing=yes
done
if [ -n "$missing" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        slurm-wlm slurmdbd munge mariadb-server >/dev/null
fi

host=$(hostname -s)
# slurmd -C reports the node; RealMemory must not exceed what slurmd finds, or the node drains.
read -r cpus boards sockets cores threads memory < <(slurmd -C | head -1 | sed -E \
    's/.*CPUs=([0-9]+) Boards=([0-9]+) SocketsPerBoard=([0-9]+) CoresPerSocket=([0-9]+) ThreadsPerCore=([0-9]+) RealMemory=([0-9]+).*/\1 \2 \3 \4 \5 \6/')
memory=$((memory * 95 / 100))
# The node offers twice its cores: a test job spends much of its few seconds starting Python and
# reading the workflow, and two such starts overlap well on one core (config_overrides lets
# slurmd accept the count). A production node declares what slurmd -C reports.
cpus=$((cpus * 2)); threads=$((threads * 2))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge /run/mysqld

cat >/etc/slurm/slurm.conf <<CONF
ClusterName=compgen
SlurmctldHost=${host}
SlurmUser=root
AuthType=auth/munge
# no cgroups in containers: track processes by their parents, bind nothing
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ReturnToService=2
SlurmdParameters=config_overrides
MinJobAge=600
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
JobAcctGatherType=jobacct_gather/linux
# keep the plugin's --comment (rule_<name>_wildcards_<...>) so sacct can tell rules apart
AccountingStoreFlags=job_comment
JobAcctGatherFrequency=5
NodeName=${host} CPUs=${cpus} Boards=${boards} SocketsPerBoard=${sockets} CoresPerSocket=${cores} ThreadsPerCore=${threads} RealMemory=${memory} State=UNKNOWN
PartitionName=cpu Nodes=${host} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=${host} MaxTime=INFINITE State=UP
CONF

cat >/etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
PidFile=/run/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=compgen
StorageLoc=slurm_acct_db
CONF
chmod 600 /etc/slurm/slurmdbd.conf

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
wait_for() {  # wait_for <seconds> <command...>
    local limit=$1; shift
    for _ in $(seq "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    echo "start.sh: gave up waiting for: $*" >&2
    return 1
}

[ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null; }
chown munge:munge /etc/munge/munge.key /run/munge && chmod 400 /etc/munge/munge.key
running /run/munge/munged.pid || runuser -u munge -- munged --pid-file=/run/munge/munged.pid
wait_for 20 munge -n

chown mysql:mysql /run/mysqld
if ! running /run/mysqld/mysqld.pid; then
    (mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid >/var/log/slurm/mariadb.log 2>&1 &)
fi
wait_for 60 mariadb -e "select 1"
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'compgen';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

running /run/slurmdbd.pid || slurmdbd
wait_for 60 sacctmgr -n list cluster
sacctmgr -i add cluster compgen >/dev/null 2>&1 || true
sacctmgr -i add account compgen Cluster=compgen Description=compgen Organization=compgen >/dev/null 2>&1 || true
sacctmgr -i add user root Account=compgen Cluster=compgen >/dev/null 2>&1 || true

running /run/slurmctld.pid || slurmctld
wait_for 30 scontrol ping
running /run/slurmd.pid || slurmd
wait_for 60 bash -c "sinfo -h -N -o %t | grep -qE '^(idle|mix|alloc)'"
scontrol update NodeName="${host}" State=RESUME >/dev/null 2>&1 || true
scontrol reconfigure >/dev/null 2>&1 || true  # a second start.sh may have rewritten slurm.conf
sinfo
