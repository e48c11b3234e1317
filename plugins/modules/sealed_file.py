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
  - Results and diffs show only metadata - the method, the size of the content and the first 12 hex digits of its SHA-256 -
    never the content.
  - An existing file that cannot be unsealed (sealed on another host, moved, changed after sealing, or the host key is
    missing) is an error, and the file is left untouched. Remove it with O(state=absent) to replace it.
author:
  - preauth.oauth2 developers (@preauth-oauth2)
extends_documentation_fragment:
  - preauth.oauth2.attributes
  - ansible.builtin.files
options:
  path:
    description:
      - The sealed file. Its directory must exist.
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
      - V(absent) removes O(path) if it exists, without unsealing it.
    type: str
    choices: [present, absent]
    default: present
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
      - Unseals an existing file to compare it, but creates no host key and writes nothing.
      - With O(method=auto), probing C(systemd-creds) runs it, which creates systemd's own host key if it has none yet.
  diff_mode:
    support: full
    details:
      - Shows the method, size and SHA-256 fingerprint before and after, and changed ownership and mode; never the content.
  idempotent:
    support: full
  platform:
    description: Target OS families that can be operated against.
    support: N/A
    platforms: posix
requirements:
  - cryptography (Python library, on the target) for O(method=hostkey).
  - systemd-creds (systemd 250 or newer) for O(method=systemd-creds).
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
- name: Seal a settings file for the product's service user
  preauth.oauth2.sealed_file:
    path: /home/invantive/invantive/settings-acme-nl.xml.sealed
    content: "{{ lookup('ansible.builtin.template', 'settings.xml.j2') }}"
    owner: root
    group: root
    mode: "0600"
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

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.preauth.oauth2.plugins.module_utils._sealing import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    DEFAULT_HOST_KEY_PATH,
    DEFAULT_MACHINE_ID_PATH,
    HAS_CRYPTOGRAPHY,
    HOSTKEY,
    SealingError,
    copy_attributes,
    detect_method,
    fingerprint,
    read_sealed,
    resolve_method,
    seal,
    unseal_data,
    write_atomically,
)


PLAIN = "plain"


def metadata(method: str, plaintext: bytes) -> dict:
    return {"state": "present", "method": method, "content_size": len(plaintext), "content_sha256": fingerprint(plaintext)}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            content=dict(type="str", no_log=True),
            method=dict(type="str", default="auto", choices=["auto", "systemd-creds", "hostkey", PLAIN]),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            # a path, not a secret; the key itself is never an argument
            host_key_path=dict(type="path", default=DEFAULT_HOST_KEY_PATH, no_log=False),
            machine_id_path=dict(type="path", default=DEFAULT_MACHINE_ID_PATH),
        ),
        required_if=[("state", "present", ("content",))],
        add_file_common_args=True,
        supports_check_mode=True,
    )
    path = module.params["path"]
    state = module.params["state"]
    keys = dict(host_key_path=module.params["host_key_path"], machine_id_path=module.params["machine_id_path"])
    # AnsibleModule replaces state with "file" (and adds size, mode, owner...) when the path exists
    result = dict(changed=False, path=path, state="absent")
    diff = dict(before_header=path, after_header=path, before={"state": "absent"}, after={"state": state})

    def need_cryptography(method: str) -> None:
        if method == HOSTKEY and not HAS_CRYPTOGRAPHY:
            module.fail_json(msg=missing_required_lib("cryptography", reason="for method=hostkey"), exception=CRYPTOGRAPHY_IMPORT_ERROR, **result)

    try:
        existing = read_sealed(path)
        if state == "absent":
            if existing is not None:
                diff["before"] = {"state": "present", "method": detect_method(existing)}
                if not module.check_mode:
                    os.unlink(path)
                result["changed"] = True
            module.exit_json(diff=diff, **result)

        plaintext = to_bytes(module.params["content"], errors="surrogate_or_strict")
        systemd_creds = module.get_bin_path("systemd-creds") if module.params["method"] != PLAIN else None
        method = PLAIN if module.params["method"] == PLAIN else resolve_method(module.params["method"], systemd_creds)
        need_cryptography(method)
        reseal = True
        if existing is not None and method == PLAIN:
            # Nothing to unseal: the bytes are the content.
            diff["before"] = metadata(PLAIN, existing)
            reseal = existing != plaintext
        elif existing is not None:
            existing_method = detect_method(existing)
            need_cryptography(existing_method)
            current = unseal_data(existing, path, systemd_creds=systemd_creds, **keys)
            diff["before"] = metadata(existing_method, current)
            reseal = current != plaintext or existing_method != method
            del current
        diff["after"] = metadata(method, plaintext)
        result.update(method=method, content_size=len(plaintext), content_sha256=fingerprint(plaintext))

        file_args = module.load_file_common_arguments(module.params)
        if reseal and module.check_mode:
            result["changed"] = True
        elif reseal:
            sealed = plaintext if method == PLAIN else seal(plaintext, path, method, systemd_creds=systemd_creds, **keys)

            def set_attributes(tmp: str) -> None:
                # the new file appears with its final owner and mode, never with the temporary file's
                if existing is not None:
                    copy_attributes(path, tmp)
                module.set_fs_attributes_if_different(dict(file_args, path=tmp), False)

            write_atomically(path, sealed, before_rename=set_attributes)
            result["changed"] = module.set_fs_attributes_if_different(file_args, True, diff)
        else:
            result["changed"] = module.set_fs_attributes_if_different(file_args, False, diff)
    except SealingError as exc:
        module.fail_json(msg=exc.msg, reason=exc.reason, **result)
    except OSError as exc:
        module.fail_json(msg="Cannot change %s (%s)." % (path, exc.strerror), **result)

    module.exit_json(diff=diff, **result)


if __name__ == "__main__":
    main()
