"""Run an action plugin the way ansible-playbook does: a real Task, PlayContext, local connection
and a DataLoader that holds the run's vault secret."""

from __future__ import annotations

import typing as t

from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultSecret
from ansible.playbook.play_context import PlayContext
from ansible.playbook.task import Task
from ansible.plugins.loader import connection_loader

# The password of chains.VAULT, so the actions read the stores the tests made.
PASSWORD = b"FAKE-vault-password"


def run_action(
    action_class: type,
    args: dict[str, t.Any],
    check_mode: bool = False,
    diff: bool = False,
    secrets: list[tuple[str, t.Any]] | None = None,
) -> dict[str, t.Any]:
    task = Task()
    task.action = "preauth.oauth2." + action_class.__module__.rsplit(".", 1)[-1]
    task.args = args
    task.check_mode = check_mode
    task.diff = diff
    play_context = PlayContext()
    loader = DataLoader()
    loader.set_vault_secrets(secrets if secrets is not None else [("default", VaultSecret(PASSWORD))])
    action = action_class(task, connection_loader.get("local", play_context), play_context, loader, None)
    return action.run(task_vars={})


def pick(p: t.Mapping[str, t.Any], *names: str) -> dict[str, t.Any]:
    """The options of ``p`` that an action with a smaller argument spec takes (unset ones left out).

    Asking for ``store_dir`` asks for the store: ``store_url`` comes with it when the tests run on PostgreSQL.
    """
    wanted = (*names, "store_url") if "store_dir" in names else names
    return {k: p[k] for k in wanted if p.get(k) is not None}


def given(p: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Task arguments from connection parameters: the options that are set."""
    return {k: v for k, v in p.items() if v is not None}
