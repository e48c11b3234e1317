#!/usr/bin/env bash
# The SSH test host of setup_sshd in real ansible runs: strict host key checking refuses a host
# it does not know, then both hosts answer over SSH, become gives root, become_user reaches a
# service user and the remote Python imports cryptography as root.
set -eu
# shellcheck source=/dev/null
source ../setup_sshd/sshd.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start_sshd "$work" # runs stop_sshd on exit, before the trap above

# Before any connection: a kept-open ControlPersist master would skip host key verification.
if ansible -i "$SSHD_INVENTORY" target1 -m ansible.builtin.ping \
    -e "ansible_ssh_common_args='-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes'" >"$work/unknown.out" 2>&1; then
    echo "a host missing from known_hosts was reached: host key checking is off" >&2
    exit 1
fi
grep -q 'Host key verification failed' "$work/unknown.out" || { cat "$work/unknown.out"; exit 1; }

ansible-playbook -i "$SSHD_INVENTORY" host.yml "$@"
echo "ssh_host: both hosts reachable over SSH with strict host keys; become to root and to a service user"
