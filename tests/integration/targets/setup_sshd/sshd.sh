# shellcheck shell=bash
# Sourced by integration targets (needs/target/setup_sshd), as root: a real SSH host on 127.0.0.1
# for deployment tests.
#
# start_sshd WORKDIR
#   starts a throwaway sshd on a free 127.0.0.1 port with its own host key, creates the deploy user
#   preauth-deployer (key login only, passwordless sudo) and the service users preauth-svc1 and
#   preauth-svc2, writes WORKDIR/ssh-inventory.yml (group ssh_hosts: target1, target2) and exports
#   SSHD_PORT, SSHD_USER, SSHD_KEY, SSHD_KNOWN_HOSTS, SSHD_INVENTORY and SSHD_PYTHON (the remote
#   interpreter). sshd reads the authorized keys as preauth-deployer, so WORKDIR is made 0711 and
#   its parents must be traversable: a mktemp -d under /tmp is right, one under /root is not.
# stop_sshd
#   stops the server and its connections and removes the sudoers drop-in; the users stay, their
#   re-creation is idempotent. start_sshd runs it on exit, ahead of an EXIT trap already set; a
#   caller that sets its own EXIT trap after start_sshd must call stop_sshd in it.

SSHD_USER=preauth-deployer
SSHD_SERVICE_USERS=(preauth-svc1 preauth-svc2)
SSHD_SUDOERS=/etc/sudoers.d/preauth-integration

stop_sshd() {
    _sshd_kill
    rm -f "$SSHD_SUDOERS"
}

_sshd_kill() {
    if [ -n "${SSHD_PID:-}" ] && kill -0 "$SSHD_PID" 2>/dev/null; then
        # Each connection has its own sshd child, which ssh's ControlPersist would keep alive
        # after the listener is gone; end those first.
        pkill -TERM -P "$SSHD_PID" || true
        kill "$SSHD_PID"
        wait "$SSHD_PID" 2>/dev/null || true
    fi
    SSHD_PID=
}

_sshd_fail() {
    echo "start_sshd: $*" >&2
    return 1
}

_sshd_users() {
    local user
    if ! id -u "$SSHD_USER" >/dev/null 2>&1; then
        useradd --create-home --shell /bin/bash "$SSHD_USER" || return 1
    fi
    # useradd locks the password with "!", and sshd without PAM refuses every login to a locked
    # account, keys included; "*" matches no password but is not a lock.
    usermod --password '*' "$SSHD_USER" || return 1
    for user in "${SSHD_SERVICE_USERS[@]}"; do
        if ! id -u "$user" >/dev/null 2>&1; then
            useradd --system --create-home --home-dir "/home/$user" --shell /usr/sbin/nologin "$user" || return 1
        fi
    done
}

_sshd_sudoers() {
    local draft=$1/sudoers
    # Pipelining feeds modules through sudo's stdin, which requiretty would refuse.
    printf 'Defaults:%s !requiretty\n%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$SSHD_USER" "$SSHD_USER" >"$draft"
    visudo -cqf "$draft" || _sshd_fail "visudo rejects the sudoers drop-in $draft" || return 1
    install -o root -g root -m 0440 "$draft" "$SSHD_SUDOERS"
}

# The remote Python runs as root, as preauth-deployer and as the service users, so it must be
# reachable by all of them: a virtual environment whose base interpreter lives under /root is not.
_sshd_python() {
    local candidate user tried=()
    for candidate in "${ANSIBLE_TEST_PYTHON_INTERPRETER:-}" "$(command -v python3)" /usr/bin/python3; do
        [ -n "$candidate" ] || continue
        for user in root "$SSHD_USER" "${SSHD_SERVICE_USERS[@]}"; do
            if ! sudo -n -u "$user" -- "$candidate" -c 'import cryptography' >/dev/null 2>&1; then
                tried+=("$candidate (not as $user)")
                continue 2
            fi
        done
        SSHD_PYTHON=$candidate
        return 0
    done
    _sshd_fail "no Python imports cryptography for root, $SSHD_USER and ${SSHD_SERVICE_USERS[*]}; tried ${tried[*]}." \
        "Install python3-cryptography (Debian) or point ANSIBLE_TEST_PYTHON_INTERPRETER at a Python that has it."
}

_sshd_config() { # workdir port
    cat >"$1/sshd_config" <<EOF
ListenAddress 127.0.0.1:$2
HostKey $1/ssh_host_ed25519_key
PidFile $1/sshd.pid
AuthorizedKeysFile $1/authorized_keys/%u
AllowUsers $SSHD_USER
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
# StrictModes refuses keys below any group- or world-writable directory, /tmp included; the key
# files and WORKDIR are root's and writable by nobody else.
StrictModes no
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOF
}

# Starts sshd on a free port; 0 once it listens, 1 when the port was taken in the meantime.
_sshd_listen() { # workdir
    local port _try
    port=$("$SSHD_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    _sshd_config "$1" "$port"
    : >"$1/sshd.log"
    /usr/sbin/sshd -D -f "$1/sshd_config" -E "$1/sshd.log" &
    SSHD_PID=$!
    for _try in $(seq 1 200); do
        if grep -qF "Server listening on 127.0.0.1 port $port." "$1/sshd.log" 2>/dev/null \
            && (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            SSHD_PORT=$port
            return 0
        fi
        kill -0 "$SSHD_PID" 2>/dev/null || break
        sleep 0.05
    done
    _sshd_kill
    grep -q 'Address already in use' "$1/sshd.log" && return 1
    echo "start_sshd: sshd did not start listening on 127.0.0.1:$port; the end of $1/sshd.log:" >&2
    tail -n 20 "$1/sshd.log" >&2
    return 2
}

_sshd_inventory() { # workdir
    cat >"$1/ssh-inventory.yml" <<EOF
---
ssh_hosts:
  hosts:
    target1:
    target2:
  vars:
    ansible_host: 127.0.0.1
    ansible_port: $SSHD_PORT
    ansible_user: $SSHD_USER
    ansible_ssh_private_key_file: $SSHD_KEY
    ansible_ssh_common_args: -o UserKnownHostsFile=$SSHD_KNOWN_HOSTS -o StrictHostKeyChecking=yes
    ansible_host_key_checking: true
    ansible_become: true
    ansible_become_method: sudo
    # Modules reach the become user through stdin: no temporary files to share with it.
    ansible_pipelining: true
    ansible_python_interpreter: $SSHD_PYTHON
EOF
}

start_sshd() {
    local workdir=${1:?start_sshd needs a work directory} previous rc _try
    SSHD_PORT=
    [ "$(id -u)" = 0 ] || _sshd_fail "must run as root" || return 1
    command -v sudo >/dev/null && command -v visudo >/dev/null \
        || _sshd_fail "sudo is not installed (Debian: apt-get install sudo)" || return 1

    _sshd_users || _sshd_fail "could not create the users $SSHD_USER ${SSHD_SERVICE_USERS[*]}" || return 1
    _sshd_python || return 1

    # sshd opens the authorized keys as the user logging in.
    chmod 0711 "$workdir"
    install -d -m 0755 "$workdir/authorized_keys"
    rm -f "$workdir"/ssh_host_ed25519_key* "$workdir"/id_ed25519*
    ssh-keygen -q -t ed25519 -N '' -C preauth-integration-host -f "$workdir/ssh_host_ed25519_key"
    ssh-keygen -q -t ed25519 -N '' -C "$SSHD_USER@preauth-integration" -f "$workdir/id_ed25519"
    install -m 0644 "$workdir/id_ed25519.pub" "$workdir/authorized_keys/$SSHD_USER"
    sudo -n -u "$SSHD_USER" test -r "$workdir/authorized_keys/$SSHD_USER" \
        || _sshd_fail "$SSHD_USER cannot read $workdir/authorized_keys: WORKDIR or a parent is not traversable" || return 1

    previous=$(trap -p EXIT)
    case "$previous" in
        *stop_sshd*) ;;
        '') trap stop_sshd EXIT ;;
        *)
            eval "set -- $previous"
            # shellcheck disable=SC2064 # the caller's command is fixed now, on purpose
            trap "stop_sshd; $3" EXIT
            ;;
    esac

    _sshd_sudoers "$workdir" || return 1
    # The privilege separation directory; only a packaged service start would create it.
    install -d -m 0755 /run/sshd

    for _try in 1 2 3 4 5; do
        _sshd_listen "$workdir" && break
        rc=$?
        [ "$rc" = 1 ] || return 1
    done
    [ -n "${SSHD_PORT:-}" ] || _sshd_fail "no free port found in five tries" || return 1

    SSHD_KEY=$workdir/id_ed25519
    SSHD_KNOWN_HOSTS=$workdir/known_hosts
    SSHD_INVENTORY=$workdir/ssh-inventory.yml
    echo "[127.0.0.1]:$SSHD_PORT $(cut -d' ' -f1,2 "$workdir/ssh_host_ed25519_key.pub")" >"$SSHD_KNOWN_HOSTS"
    _sshd_inventory "$workdir"
    export SSHD_PORT SSHD_USER SSHD_KEY SSHD_KNOWN_HOSTS SSHD_INVENTORY SSHD_PYTHON
}
