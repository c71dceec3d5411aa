"""The README's sequence "On the Mac Studio", run here against the lab: the collection built and installed with
ansible-galaxy, a copy of the installed Mac inventory pointed at the lab (its secrets in an ansible-vault file, the
password in a file), then from a directory outside the repository, with only the installed collection on the
collections path: `mem0ops check` (the installed command, which runs mem0ops.stack.inventory_check), the reset's plan
(`ansible-playbook mem0ops.stack.reset --check`), which changes nothing, and the schedule's (`--check`). Also: a copy
with a secret missing fails the inventory check, naming the variable and its fix.

One build, one install and one vault per module (the fixtures below); every ansible command runs with a clean
environment (no ANSIBLE_* of the repository, no MEM0_* secrets), so the vault file is what gives the secrets.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml

from .labkit import LAB_INVENTORY, REPO, SEEDED, assert_no_secret, load_stack, stack_secrets, task_result

pytestmark = pytest.mark.integration

HOST = "mac_studio"
BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
# Where the Mac inventory reads each secret (mem0_stack path -> its key under mem0_vault in vault.yml).
VAULT_KEYS = {("services", "postgres", "password"): "postgres_password",
              ("services", "neo4j", "password"): "neo4j_password",
              ("services", "mem0", "api_key"): "mem0_api_key",
              ("alerting", "bot_token"): "telegram_bot_token",
              ("alerting", "chat_id"): "telegram_chat_id"}


def clean_env(collections: Path) -> dict:
    """The environment of an owner's shell: the venv's bin first, only the installed collection on the collections
    path (community.* come from the venv's site-packages), nothing of this repository's Ansible configuration and no
    secret in the environment."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "MEM0_", "MEM0OPS_"))}
    env.update(PATH="%s:%s" % (BIN, os.environ["PATH"]), ANSIBLE_COLLECTIONS_PATH=str(collections),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return env


def run(argv: list, cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout)


def _get(tree: dict, path: tuple):
    for key in path:
        tree = tree[key]
    return tree


def _set(tree: dict, path: tuple, value) -> None:
    _get(tree, path[:-1])[path[-1]] = value


class Installed(NamedTuple):
    """What the `installed` fixture built: the scratch directory, the owner's environment, the installed
    collection's path, the built tarball and the seconds build + install took."""
    base: Path
    env: dict
    path: Path
    tarball: Path
    seconds: float


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    """The collection built from this tree and installed with ansible-galaxy, as the README says."""
    base = tmp_path_factory.mktemp("install")
    collections = base / "collections"
    env = clean_env(collections)
    started = time.monotonic()
    build = run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(base / "dist"), str(REPO)],
                cwd=base, env=env)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball, = (base / "dist").glob("mem0ops-stack-*.tar.gz")
    # --no-deps: community.docker, .postgresql and .general are in the venv's site-packages already (ansible's own
    # collections); nothing is fetched from Galaxy.
    install = run([str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(collections),
                   "--no-deps"], cwd=base, env=env)
    assert install.returncode == 0, install.stdout + install.stderr
    seconds = time.monotonic() - started
    path = collections / "ansible_collections" / "mem0ops" / "stack"
    assert (path / "MANIFEST.json").is_file()
    return Installed(base, env, path, tarball, seconds)


@functools.lru_cache(maxsize=1)
def _lab_json() -> str:
    return json.dumps(load_stack(LAB_INVENTORY, "lab"))


def lab_stack() -> dict:
    """The lab's mem0_stack, resolved (loaded once per module; a fresh copy each call)."""
    return json.loads(_lab_json())


def mac_copy(installed, name: str, drop: tuple = ()) -> tuple[Path, Path, dict]:
    """The installed inventories/mac_studio copied and pointed at the lab: the lab's stack values in the Mac's
    structure (mem0_docker_socket, every secret read from mem0_vault), and a vault file made with `ansible-vault
    create` holding the lab's secrets (less the vault keys in drop). Returns (inventory, vault password file, lab
    stack)."""
    base, env, path = installed.base, installed.env, installed.path
    work = base / name
    inventory = work / "mac_studio"
    shutil.copytree(path / "inventories" / "mac_studio", inventory)
    group_vars = inventory / "group_vars" / "mem0_hosts"
    mac = yaml.safe_load((group_vars / "stack.yml").read_text())
    lab = lab_stack()  # resolved: the lab's credentials, paths and ports
    raw_lab = yaml.safe_load((LAB_INVENTORY / "group_vars" / "mem0_hosts" / "stack.yml").read_text())["mem0_stack"]

    tree = lab_stack()
    vault = {}
    for secret_path, key in VAULT_KEYS.items():
        vault[key] = str(_get(lab, secret_path))
        _set(tree, secret_path, _get(mac["mem0_stack"], secret_path))  # the Mac's "{{ mem0_vault.<key> | ... }}"
    for service_name, service in tree["services"].items():
        if "secret_env" in service:  # as the lab writes them: templates of the tree's secrets, never values
            service["secret_env"] = raw_lab["services"][service_name]["secret_env"]
    assert lab["docker_host"].startswith("unix://")
    mac["mem0_docker_socket"] = lab["docker_host"][len("unix://"):]
    tree["docker_host"] = mac["mem0_stack"]["docker_host"]  # "unix://{{ mem0_docker_socket }}"
    mac["mem0_stack"] = tree
    text = yaml.safe_dump(mac, sort_keys=False)
    assert_no_secret(text, stack_secrets(lab))
    (group_vars / "stack.yml").write_text(text)

    # The vault file: `ansible-vault create` opens an editor on a terminal, which a test has not; `ansible-vault
    # encrypt --output` writes the same file from a filled-in copy of vault.yml.example (0600, removed at once).
    password_file = work / "vault-pass"
    password_file.write_text(secrets.token_urlsafe(24) + "\n")
    password_file.chmod(0o600)
    example = yaml.safe_load((group_vars / "vault.yml.example").read_text())
    assert set(example["mem0_vault"]) == set(VAULT_KEYS.values())
    filled = work / "vault.plain.yml"
    filled.touch(mode=0o600)
    filled.write_text(yaml.safe_dump({"mem0_vault": {key: value for key, value in vault.items() if key not in drop}}))
    created = run([str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password_file),
                   "--output", str(group_vars / "vault.yml"), str(filled)], cwd=work, env=env)
    filled.unlink()
    assert created.returncode == 0, created.stdout + created.stderr
    assert (group_vars / "vault.yml").read_text().startswith("$ANSIBLE_VAULT;")
    return inventory, password_file, lab


def playbook(installed, name: str, inventory: Path, password_file: Path, *args: str,
             callback: str = "ansible.builtin.default") -> dict:
    """ansible-playbook mem0ops.stack.<name> from a directory outside the repository; rc, output, parsed JSON."""
    base, env = installed.base, installed.env
    elsewhere = base / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    started = time.monotonic()
    proc = run([str(BIN / "ansible-playbook"), "mem0ops.stack." + name, "-i", str(inventory),
                "--vault-password-file", str(password_file), *args],
               cwd=elsewhere, env=dict(env, ANSIBLE_STDOUT_CALLBACK=callback))
    report: dict = {"plays": []}
    if callback.endswith("json"):
        try:
            report = json.loads(proc.stdout[max(proc.stdout.find('{\n    "custom_stats"'), 0):])
        except ValueError:
            pass
    report.update(rc=proc.returncode, raw=proc.stdout + proc.stderr, seconds=round(time.monotonic() - started, 1))
    return report


def mem0ops_check(installed, inventory: Path, password_file: Path) -> dict:
    """`mem0ops check` of the installed collection, configured once through the environment as the README says: it
    prints its one ansible-playbook command, then runs it (here with the JSON callback)."""
    base, env, path = installed.base, installed.env, installed.path
    env = dict(env, MEM0OPS_INVENTORY=str(inventory), MEM0OPS_VAULT_PASSWORD_FILE=str(password_file),
               ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    started = time.monotonic()
    proc = run([str(BIN / "python"), str(path / "bin" / "mem0ops"), "check"], cwd=base, env=env)
    first, rest = (proc.stdout.split("\n", 1) + [""])[:2]
    assert first == "%s -i %s --vault-password-file %s mem0ops.stack.inventory_check --check" % (
        BIN / "ansible-playbook", inventory, password_file), proc.stdout[:500] + proc.stderr
    try:
        report = json.loads(rest)
    except ValueError:
        report = {"plays": []}
    report.update(rc=proc.returncode, raw=proc.stdout + proc.stderr, seconds=round(time.monotonic() - started, 1))
    return report


def memories_per_namespace(stack: dict) -> dict:
    """Straight from PostgreSQL, not through the code under test."""
    import psycopg2

    svc = stack["services"]["postgres"]
    conn = psycopg2.connect(host=svc["host"], port=svc["port"], user=svc["user"], password=svc["password"],
                            dbname=svc["database"], connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute('SELECT payload->>\'user_id\', count(*) FROM "%s" GROUP BY 1' % stack["mem0"]["collection"])
            return dict(cur.fetchall())
    finally:
        conn.close()


def container_states(stack: dict) -> dict:
    names = [svc["container"] for svc in stack["services"].values() if "container" in svc]
    proc = subprocess.run(["docker", "inspect", "-f", "{{.Name}} {{.State.Status}} {{.State.StartedAt}} {{.Id}}",
                           *names], env=dict(os.environ, DOCKER_HOST=stack["docker_host"]),
                          capture_output=True, text=True, check=True)
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines())


def test_the_built_collection_leaves_out_the_development_files(installed):
    env, path, tarball, seconds = installed.env, installed.path, installed.tarball, installed.seconds
    assert not (path / "lab").exists() and not (path / "roles" / "lab").exists()
    assert not (path / "playbooks" / "lab.yml").exists() and not (path / "inventories" / "lab").exists()
    assert not (path / "tests").exists() and not (path / "molecule").exists()
    for needed in ("playbooks/inventory_check.yml", "playbooks/reset.yml", "roles/inventory_check/tasks/main.yml",
                   "inventories/mac_studio/group_vars/mem0_hosts/vault.yml.example", "meta/runtime.yml",
                   "requirements.txt", "bindep.txt", "bin/mem0ops"):
        assert (path / needed).is_file(), needed
    listing = run([str(BIN / "ansible-galaxy"), "collection", "list", "mem0ops.stack"], cwd=path.parent, env=env)
    assert listing.returncode == 0 and str(path.parents[2]) in listing.stdout, listing.stdout + listing.stderr
    assert str(REPO) not in listing.stdout  # only the installed copy is found
    print("build + install: %.1f s, %d kB" % (seconds, tarball.stat().st_size // 1024))


def test_the_mac_sequence_against_the_lab(installed):
    inventory, password_file, lab = mac_copy(installed, "mac")
    before = (memories_per_namespace(lab), container_states(lab))
    assert before[0] == SEEDED, "the lab must hold the seed (make lab)"

    check = mem0ops_check(installed, inventory, password_file)
    assert check["rc"] == 0, check["raw"][-3000:]
    result = task_result(check, "Publish the result", HOST)["ansible_facts"]["inventory_check_result"]
    assert result["problems"] == []
    ok = "\n".join(result["ok"])
    assert "every required secret is set" in ok and "mem0_stack.services.mem0.api_key" in ok
    assert "the Docker engine answers at %s" % lab["docker_host"] in ok
    assert "mem0_stack.data_root %s exists and is writable" % lab["data_root"] in ok
    assert "ansible-core" in ok and "Python" in ok
    # the lab keeps its backups on the data's filesystem: a warning, not a failure
    assert any("same filesystem" in line for line in result["warnings"])
    assert check["stats"][HOST]["changed"] == 0

    reset = playbook(installed, "reset", inventory, password_file, "--check")
    assert reset["rc"] == 0, reset["raw"][-3000:]
    assert "CHECK MODE, nothing will change. Plan of the reset of stack %s" % lab["name"] in reset["raw"]
    for namespace, count in SEEDED.items():
        assert "    %s: %d" % (namespace, count) in reset["raw"]
    after = (memories_per_namespace(lab), container_states(lab))
    assert after == before

    # the scheduled jobs, planned: an installed collection has no ansible.cfg, so the jobs get none
    # (schedule_ansible_config empty; the role's default names the repository's)
    crontab = subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False).stdout
    schedule = playbook(installed, "schedule", inventory, password_file, "--check", "-e", "schedule_ansible_config=")
    assert schedule["rc"] == 0, schedule["raw"][-3000:]
    assert subprocess.run(["crontab", "-l"], capture_output=True, text=True, check=False).stdout == crontab
    for report in (check, reset, schedule):
        assert_no_secret(report["raw"], stack_secrets(lab))
    print("mem0ops check: %.1f s, reset --check: %.1f s, schedule --check: %.1f s"
          % (check["seconds"], reset["seconds"], schedule["seconds"]))


def test_a_missing_secret_fails_the_inventory_check_with_its_fix(installed):
    inventory, password_file, lab = mac_copy(installed, "no-api-key", drop=("mem0_api_key",))
    check = playbook(installed, "inventory_check", inventory, password_file, "--check")
    assert check["rc"] != 0
    text = " ".join(check["raw"].split())  # the callback folds long lines
    assert "1 problem(s)" in text
    assert "mem0_stack.services.mem0.api_key is empty or missing. Fix: set mem0_vault.mem0_api_key in the vault file" in text
    assert "export MEM0_API_KEY" in text
    assert_no_secret(check["raw"], stack_secrets(lab))
