#!/usr/bin/env bash
# Installs Debian's slurm-wlm and munge for tests/test_slurm.py (a single-node SLURM on localhost).
# Never fails CI: when the install is impossible (not root, no apt-get, no network) it says why and
# exits 0, and the SLURM test then skips with its own reason.
set -u

say() { echo "setup-slurm: $*"; }

if command -v sbatch >/dev/null && command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
    && command -v munged >/dev/null; then
    say "slurm-wlm and munge already installed ($(slurmctld -V 2>/dev/null))"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    say "not root: skipping the apt-get install of slurm-wlm and munge (the SLURM test will skip)"
    exit 0
fi
if ! command -v apt-get >/dev/null; then
    say "no apt-get: skipping the install of slurm-wlm and munge (the SLURM test will skip)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if apt-get update >"$log" 2>&1 \
    && apt-get install -y --no-install-recommends slurm-wlm munge >>"$log" 2>&1; then
    say "installed $(slurmctld -V 2>/dev/null) and munge"
else
    say "apt-get install of slurm-wlm and munge failed (the SLURM test will skip); last lines:"
    tail -n 5 "$log" | sed 's/^/setup-slurm:   /'
fi
rm -f "$log"
exit 0
