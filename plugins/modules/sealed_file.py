#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, preauth.oauth2 developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sealed_file
short_description: Write a file whose content is encrypted at rest and bound to the target host
version_added: 0.1.0
description:
  - Encrypts O(content) on the target host and writes it to O(path), so that a copy of the file is useless on any other host.
    Runs on the target; the plaintext is passed to it like any module argument and is never written to disk there.
  - With O(method=systemd-creds) the file is sealed by C(systemd-creds encrypt --with-key=auto), which uses the TPM2 where
    present and else systemd's host key C(/var/lib/systemd/credential.secret). The credential name is the file's base name.
  - With O(method=hostkey) the file is sealed with AES-256-GCM under a key derived from a host key that is created once on the
    host (O(host_key_path)), the machine id (O(machine_id_path)) and the file's path. See the notes for the file format.
  - Idempotent although every seal produces different bytes - the existing file is unsealed and its content compared; it is
    rewritten only when the content or the method changed. Writes are atomic (temporary file in the same directory, fsync,
    rename); the temporary file holds only the sealed bytes.
  - The file's directory may belong to another user (the product's service user), so the module never acts on a name that user
    could change. The directory is reached one component at a time from C(/), following a symbolic link only where the directory
    that holds it is root's alone; the temporary file is created exclusively (never through a symbolic link) and gets its owner
    and mode through its open descriptor before it is renamed into place. An existing file whose owner or mode must change is
    rewritten the same way, never changed in place.
  - Refuses, with a message that names the file, a symbolic link, a named pipe (FIFO), a device, a socket or a directory at
    O(path), a file with more than one hard link, and a file larger than 16 MiB. Remove such a file and run the task again.
  - Results and diffs show only metadata - the method, the size of the content and the first 12 hex digits of its SHA-256 -
    never the content.
  - An existing file that cannot be unsealed (sealed on another host, moved, changed after sealing, or the host key is
    missing) is an error, and the file is left untouched. Remove it with O(state=absent) to replace it.
author:
  - preauth.oauth2 developers (@preauth-oauth2)
extends_documentation_fragment:
  - preauth.oauth2.attributes
options:
  path:
    description:
      - The sealed file. Its directory must exist, unless O(directory_mode) is set.
      - A new file gets mode C(0600) and the owner of the module's user unless O(mode), O(owner) or O(group) say otherwise; a
        replaced file keeps the mode and ownership it had.
      - The hostkey method binds the file to this absolute path and the systemd-creds method to its base name, so a moved or
        renamed file no longer unseals.
    type: path
    required: true
  content:
    description:
      - The plaintext to seal, as UTF-8. Required when O(state=present).
    type: str
  method:
    description:
      - V(systemd-creds) seals with C(systemd-creds encrypt --with-key=auto).
      - V(hostkey) seals with AES-256-GCM under a key derived from the host key and the machine id; needs the Python library
        C(cryptography) on the target.
      - V(auto) uses V(systemd-creds) when C(systemd-creds) is installed and can encrypt and decrypt a probe value on the host,
        else V(hostkey).
      - V(plain) does not seal - it writes O(content) as it is, for programs that cannot use the collection's runner. The file
        is protected only by its owner and mode; results and diffs still show only metadata, and an existing file is compared
        byte for byte.
      - An existing file is unsealed with the method that sealed it, whatever this option says, and resealed when the method
        differs.
    type: str
    choices: [auto, systemd-creds, hostkey, plain]
    default: auto
  state:
    description:
      - V(present) seals O(content) into O(path).
      - V(absent) removes O(path) if it exists, without unsealing it. A symbolic link or named pipe there is removed (not
        followed or read); a directory there is an error.
    type: str
    choices: [present, absent]
    default: present
  owner:
    description:
      - The user that owns the file, a name or a numeric uid (a numeric string is taken as a uid).
      - When not set, a new file is owned by the module's user and an existing file keeps its owner.
    type: str
  group:
    description:
      - The group of the file, a name or a numeric gid (a numeric string is taken as a gid).
      - When not set, a new file gets the module user's group and an existing file keeps its group.
    type: str
  mode:
    description:
      - The permissions of the file, as an octal string (V('0600')) or in symbolic form (V(u=rw,g=r)) like
        M(ansible.builtin.file). Quote octal numbers, so Ansible does not read them as decimal.
      - When not set, a new file gets mode C(0600) and an existing file keeps its mode.
    type: raw
  directory_mode:
    description:
      - When set, the directory of O(path) is created if it is missing (its parent must exist) and given this mode, and
        O(owner) and O(group) when they are set, through its open descriptor. A symbolic link in its place is refused.
      - An octal string such as V('0700'), or symbolic form. When not set, the directory must exist and is left as it is.
      - Used only with O(state=present).
    type: raw
  host_key_path:
    description:
      - The host key of the hostkey method - 32 random bytes. Created when a file is first sealed with the hostkey method
        (mode C(0400), owned by the module's user, which should be root; missing directories are created with mode C(0700)).
      - The key never leaves the host and is never returned. Without it, files sealed with it cannot be unsealed - include it
        in the host's backups, protected like C(/etc/shadow).
    type: path
    default: /etc/preauth/hostkey
  machine_id_path:
    description:
      - The file with the host's machine id, which the hostkey method binds files to. Change it only for tests.
    type: path
    default: /etc/machine-id
attributes:
  check_mode:
    support: full
    details:
      - Unseals an existing file to compare it, but creates no host key, no directory and writes nothing.
      - With O(method=auto), probing C(systemd-creds) runs it, which creates systemd's own host key if it has none yet.
  diff_mode:
    support: full
    details:
      - Shows the method, size and SHA-256 fingerprint before and after, and changed ownership and mode; never the content.
      - With O(directory_mode), also the directory's path, state, mode, owner and group before and after.
  idempotent:
    support: full
  platform:
    description: Target OS families that can be operated against.
    support: N/A
    platforms: posix
requirements:
  - cryptography (Python library) on the target, for O(method=hostkey)
  - systemd-creds (systemd 250 or newer) on the target, for O(method=systemd-creds) (and O(method=auto) uses it when it works)
notes:
  - "The hostkey file format, version 1. Bytes 0-7 are the magic C(PAOSEAL) followed by a zero byte; byte 8 is the format
    version (1); byte 9 is the method (1, hostkey); bytes 10-17 are a key id, the first 8 bytes of HKDF-SHA256 with the host key
    as input key material, the machine id as salt and C(preauth.oauth2 key-id v1) as info; bytes 18-29 are a random 96-bit
    nonce; the rest is the AES-256-GCM ciphertext of the content followed by the 16-byte tag. Bytes 0-29 are the associated
    data, so changing any of them fails the tag check."
  - "The hostkey file key is HKDF-SHA256 (32 bytes) with the host key as input key material, the machine id (the stripped
    content of O(machine_id_path)) as salt, and C(preauth.oauth2 sealed_file v1), a zero byte and the absolute path of the file
    as info."
  - A file sealed with systemd-creds holds exactly what C(systemd-creds encrypt) writes, so C(systemd-creds decrypt
    --name=<file name> <file> -) and systemd's C(LoadCredentialEncrypted=) can read it too. The two formats are told apart by
    the magic.
  - Root on the host can unseal both kinds, as can anyone who reads the host key (or systemd's) and the machine id. Sealing
    protects copies of the file - backups, a copied disk, another host - not the running host.
  - The fingerprint is a truncated hash of the content; do not seal short, guessable content if its fingerprint must not be
    checkable.
  - Files are unsealed for programs by the collection's runner, which reads them with the same code.
  - The P(preauth.oauth2.settings#role) role writes Invantive settings files with this module, sealed or (V(plain)) not.
seealso:
  - name: systemd-creds
    description: The systemd tool for encrypted credentials.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd-creds.html
"""

EXAMPLES = r"""
- name: Seal a settings file into the product user's folder, creating the folder when missing
  preauth.oauth2.sealed_file:
    path: /home/invantive/invantive/settings-acme-nl.xml.sealed
    content: "{{ lookup('ansible.builtin.template', 'settings.xml.j2') }}"
    owner: invantive
    group: invantive
    mode: "0600"
    directory_mode: "0700"
  become: true
  no_log: true

- name: Seal with AES-256-GCM under the host key, also where systemd-creds is available
  preauth.oauth2.sealed_file:
    path: /etc/preauth/acme-nl.sealed
    content: "{{ acme_settings }}"
    method: hostkey
  become: true
  no_log: true

- name: Remove a sealed file
  preauth.oauth2.sealed_file:
    path: /etc/preauth/acme-nl.sealed
    state: absent
  become: true
"""

RETURN = r"""
path:
  description: The sealed file.
  returned: always
  type: str
  sample: /etc/preauth/acme-nl.sealed
state:
  description: V(file) when O(path) exists after the task (in check mode - before it), else V(absent).
  returned: always
  type: str
  sample: file
method:
  description: The method the file is (or in check mode would be) sealed with; V(auto) resolved to what it chose.
  returned: when O(state=present)
  type: str
  sample: hostkey
content_size:
  description: The size of the content in bytes.
  returned: when O(state=present)
  type: int
  sample: 812
content_sha256:
  description: The first 12 hex digits of the SHA-256 of the content - a fingerprint to see that content changed.
  returned: when O(state=present)
  type: str
  sample: 3f1c0a9be27d
size:
  description: The size of the sealed file in bytes.
  returned: when O(path) exists
  type: int
  sample: 858
mode:
  description: The mode of the sealed file.
  returned: when O(path) exists
  type: str
  sample: "0600"
owner:
  description: The owner of the sealed file.
  returned: when O(path) exists
  type: str
  sample: root
group:
  description: The group of the sealed file.
  returned: when O(path) exists
  type: str
  sample: root
uid:
  description: The numeric owner of the sealed file.
  returned: when O(path) exists
  type: int
  sample: 0
gid:
  description: The numeric group of the sealed file.
  returned: when O(path) exists
  type: int
  sample: 0
"""

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.preauth.oauth2.plugins.module_utils._sealing import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    DEFAULT_HOST_KEY_PATH,
    DEFAULT_MACHINE_ID_PATH,
    HAS_CRYPTOGRAPHY,
    HOSTKEY,
    MissingPathError,
    SealingError,
    detect_method,
    directory_status,
    ensure_directory,
    fingerprint,
    open_directory,
    read_at_with_stat,
    remove_at,
    resolve_method,
    seal,
    unseal_data,
    write_at,
)

PLAIN = "plain"
NEW_FILE_MODE = 0o600


class _Mode:
    """What AnsibleModule._symbolic_mode_to_octal reads of a stat result: the type and mode bits it starts from."""

    def __init__(self, st_mode: int) -> None:
        self.st_mode = st_mode


def metadata(method: str, plaintext: bytes) -> dict:
    return {"state": "present", "method": method, "content_size": len(plaintext), "content_sha256": fingerprint(plaintext)}


def octal(mode: int) -> str:
    return "0%03o" % mode


def resolve_id(module: AnsibleModule, option: str) -> int:
    """The uid (owner) or gid (group) the option names; -1 when it is not set. A numeric string is an id, as for chown."""
    value = module.params[option]
    if value is None:
        return -1
    if value.isdigit():
        return int(value)
    try:
        return pwd.getpwnam(value).pw_uid if option == "owner" else grp.getgrnam(value).gr_gid
    except KeyError:
        pass
    kind = "user" if option == "owner" else "group"
    module.fail_json(msg="%s=%s: there is no %s %s on this host. Create it first, or give another %s." % (option, value, kind, value, option))
    raise AssertionError("fail_json returned")  # it exits; this tells type checkers so


def parse_mode(module: AnsibleModule, option: str, current: int) -> int:
    """The mode the option asks for (octal or symbolic, as ansible.builtin.file takes it), applied to the mode ``current``."""
    value = module.params[option]
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        try:
            mode = int(str(value), 8)
        except ValueError:
            try:
                mode = module._symbolic_mode_to_octal(_Mode(current), str(value))  # pylint: disable=protected-access
            except Exception:  # pylint: disable=broad-except
                module.fail_json(msg="%s=%s is not a mode: give it in octal (for example '0600') or symbolic form (u=rw,g=r)." % (option, value))
    if mode != stat.S_IMODE(mode):
        module.fail_json(msg="%s=%s is not a mode: only permission bits (at most 07777) are allowed." % (option, value))
    return mode


def directory_metadata(directory: str, st: os.stat_result | None) -> dict:
    if st is None:
        return {"path": directory, "state": "absent"}
    return {"path": directory, "state": "directory", "mode": octal(stat.S_IMODE(st.st_mode)), "owner": st.st_uid, "group": st.st_gid}


def open_file_directory(module: AnsibleModule, directory: str, uid: int, gid: int, diff: dict) -> tuple[int, bool]:
    """A descriptor of the file's directory (-1 when it is missing in check mode) and whether it changed.

    With directory_mode the directory is created or given its owner and mode (predicted in check mode).
    """
    if module.params["directory_mode"] is None or module.params["state"] == "absent":
        return open_directory(directory), False
    current = directory_status(directory)
    mode = parse_mode(module, "directory_mode", stat.S_IFDIR | 0o700 if current is None else current.st_mode)
    before = directory_metadata(directory, current)
    after = dict(before, state="directory", mode=octal(mode))
    if uid != -1:
        after["owner"] = uid
    if gid != -1:
        after["group"] = gid
    diff["before"]["directory"] = before
    diff["after"]["directory"] = after
    if module.check_mode:
        return (-1 if current is None else open_directory(directory)), before != after
    return ensure_directory(directory, mode, uid, gid)


class SealedFileModule(AnsibleModule):
    def add_path_info(self, kwargs: dict) -> dict:
        # AnsibleModule would stat the path by name, following links the service user may have put there since;
        # main() reports the file's metadata itself, from an lstat relative to the directory's descriptor.
        return kwargs


def path_info(dir_fd: int, name: str) -> dict:
    """state, uid, gid, owner, group, mode and size of the file ``name`` in ``dir_fd``, as ansible.builtin.file reports them."""
    try:
        st = None if dir_fd < 0 else os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        st = None
    if st is None:
        return {"state": "absent"}
    if stat.S_ISLNK(st.st_mode):
        state = "link"
    elif stat.S_ISDIR(st.st_mode):
        state = "directory"
    else:
        state = "hard" if st.st_nlink > 1 else "file"
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
    except KeyError:
        owner = str(st.st_uid)
    try:
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        group = str(st.st_gid)
    return dict(state=state, uid=st.st_uid, gid=st.st_gid, owner=owner, group=group, mode=octal(stat.S_IMODE(st.st_mode)), size=st.st_size)


class Failure(Exception):
    """Ends the run with fail_json(**kwargs) once the file's metadata is known."""

    def __init__(self, **kwargs) -> None:
        super().__init__(kwargs.get("msg"))
        self.kwargs = kwargs


def main() -> None:
    module = SealedFileModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            content=dict(type="str", no_log=True),
            method=dict(type="str", default="auto", choices=["auto", "systemd-creds", "hostkey", PLAIN]),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            owner=dict(type="str"),
            group=dict(type="str"),
            mode=dict(type="raw"),
            directory_mode=dict(type="raw"),
            # a path, not a secret; the key itself is never an argument
            host_key_path=dict(type="path", default=DEFAULT_HOST_KEY_PATH, no_log=False),
            machine_id_path=dict(type="path", default=DEFAULT_MACHINE_ID_PATH),
        ),
        required_if=[("state", "present", ("content",))],
        supports_check_mode=True,
    )
    path = os.path.abspath(module.params["path"])
    directory, name = os.path.split(path)
    result = dict(changed=False, path=path)
    diff = dict(before_header=path, after_header=path, before={"state": "absent"}, after={"state": module.params["state"]})
    uid = resolve_id(module, "owner")
    gid = resolve_id(module, "group")
    dir_fd = -1
    failure = None
    try:
        dir_fd, result["changed"] = open_file_directory(module, directory, uid, gid, diff)
        if module.params["state"] == "absent":
            result["changed"] = remove(module, dir_fd, name, path, diff)
        else:
            result.update(present(module, dir_fd, name, path, uid, gid, diff))
            result["changed"] = result["changed"] or result.pop("file_changed")
    except MissingPathError:
        if module.params["state"] == "present":
            failure = dict(
                msg="The directory %s of %s does not exist; create it first, or set directory_mode to have this module create it." % (directory, path),
                reason="path",
            )
    except Failure as exc:
        failure = exc.kwargs
    except SealingError as exc:
        failure = dict(msg=exc.msg, reason=exc.reason)
    except OSError as exc:
        failure = dict(msg="Cannot change %s (%s)." % (path, exc.strerror))
    finally:
        result.update(path_info(dir_fd, name))
        if dir_fd >= 0:
            os.close(dir_fd)
    if failure is not None:
        module.fail_json(**dict(result, **failure))
    module.exit_json(diff=diff, **result)


def remove(module: AnsibleModule, dir_fd: int, name: str, path: str, diff: dict) -> bool:
    """state=absent: remove the file's name (whatever it is, but a directory); whether it was there."""
    try:
        found = read_at_with_stat(dir_fd, name, path)
        before = None if found is None else {"state": "present", "method": detect_method(found[0])}
    except SealingError:
        # A link, a pipe or anything else that is not a file: removing the name is harmless, reading it is not.
        before = {"state": "present"}
    if before is None:
        return False
    diff["before"] = before
    return module.check_mode or remove_at(dir_fd, name, path)


def present(module: AnsibleModule, dir_fd: int, name: str, path: str, uid: int, gid: int, diff: dict) -> dict:
    """state=present: seal the content into the file unless it holds it already with the wanted owner and mode."""
    keys = dict(host_key_path=module.params["host_key_path"], machine_id_path=module.params["machine_id_path"])

    def need_cryptography(method: str) -> None:
        if method == HOSTKEY and not HAS_CRYPTOGRAPHY:
            raise Failure(msg=missing_required_lib("cryptography", reason="for method=hostkey"), exception=CRYPTOGRAPHY_IMPORT_ERROR)

    # Read or replace only a file that is nothing else's: a hard link could be a file of root's.
    found = None if dir_fd < 0 else read_at_with_stat(dir_fd, name, path, single_link=True)
    existing, current = (None, None) if found is None else found
    plaintext = to_bytes(module.params["content"], errors="surrogate_or_strict")
    systemd_creds = module.get_bin_path("systemd-creds") if module.params["method"] != PLAIN else None
    method = PLAIN if module.params["method"] == PLAIN else resolve_method(module.params["method"], systemd_creds)
    need_cryptography(method)
    reseal = True
    if existing is not None and method == PLAIN:
        # Nothing to unseal: the bytes are the content.
        diff["before"].update(metadata(PLAIN, existing))
        reseal = existing != plaintext
    elif existing is not None:
        existing_method = detect_method(existing)
        need_cryptography(existing_method)
        plain_before = unseal_data(existing, path, systemd_creds=systemd_creds, **keys)
        diff["before"].update(metadata(existing_method, plain_before))
        reseal = plain_before != plaintext or existing_method != method
        del plain_before
    diff["after"].update(metadata(method, plaintext))

    # A replaced file keeps its owner, group and mode unless the task sets them; a new one gets the module user's and 0600.
    given_mode = module.params["mode"] is not None
    rewrite = False
    if current is None:
        mode = parse_mode(module, "mode", stat.S_IFREG | NEW_FILE_MODE) if given_mode else NEW_FILE_MODE
        for key, value, given in (("mode", octal(mode), given_mode), ("owner", uid, uid != -1), ("group", gid, gid != -1)):
            if given:
                diff["after"][key] = value
    else:
        mode = parse_mode(module, "mode", current.st_mode) if given_mode else stat.S_IMODE(current.st_mode)
        uid = current.st_uid if uid == -1 else uid
        gid = current.st_gid if gid == -1 else gid
        for key, before, after in (("mode", octal(stat.S_IMODE(current.st_mode)), octal(mode)), ("owner", current.st_uid, uid), ("group", current.st_gid, gid)):
            if before != after:
                diff["before"][key] = before
                diff["after"][key] = after
                rewrite = True

    if (reseal or rewrite) and not module.check_mode:
        if reseal:
            data = plaintext if method == PLAIN else seal(plaintext, path, method, systemd_creds=systemd_creds, **keys)
        else:
            # Same content, other owner or mode: a new file with the same bytes, never a chown/chmod of the existing one.
            data = existing
        write_at(dir_fd, name, path, data, mode, uid, gid)
    return dict(method=method, content_size=len(plaintext), content_sha256=fingerprint(plaintext), file_changed=reseal or rewrite)


if __name__ == "__main__":
    main()
