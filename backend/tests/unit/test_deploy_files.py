"""The Dockerfile, the deploy/ definitions and the runbook agree with the application they ship.

Docker and the schedulers cannot run here, so these tests read the files and
check them against the real click commands and pyproject.toml.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import tomllib
from pathlib import Path

import click
import kubernetes_validate
import pytest
import yaml
from flask.cli import FlaskGroup, ScriptInfo

from ops_backend.cli import EXIT_REFUSED_BY_CAP, EXIT_USAGE

from cli_runner import REPO_ROOT, cli_app

JOB_COMMAND = "disable-inactive-users"
SECRET_NAMES = re.compile(r"PASSWORD|SECRET|TOKEN|DATABASE_URL|ALERT_URLS|KEY", re.IGNORECASE)


def _test_app():
    return cli_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


@pytest.fixture(scope="module")
def cli_group() -> click.Group:
    """The `flask` command as it runs: Flask's own commands, plugins (db) and the app's."""
    return FlaskGroup(create_app=_test_app)


def app_command(cli_group: click.Group, name: str) -> click.Command | None:
    with click.Context(cli_group, obj=ScriptInfo(create_app=_test_app)) as ctx:
        return cli_group.get_command(ctx, name)


# -- Dockerfile ---------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = (REPO_ROOT / "Dockerfile").read_text()
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    pairs = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def instructions(name: str) -> list[str]:
    return [arguments for instruction, arguments in dockerfile_instructions() if instruction == name]


def env_settings() -> dict[str, str]:
    settings = {}
    for arguments in instructions("ENV"):
        for pair in shlex.split(arguments):
            key, _, value = pair.partition("=")
            settings[key] = value
    return settings


def newest_supported_python() -> str:
    """The newest "Programming Language :: Python :: 3.N" classifier in pyproject.toml."""
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    prefix = "Programming Language :: Python :: "
    versions = [c[len(prefix) :] for c in pyproject["project"]["classifiers"] if re.fullmatch(r"3\.\d+", c[len(prefix) :])]
    return max(versions, key=lambda v: tuple(map(int, v.split("."))))


def test_the_image_starts_from_the_newest_supported_slim_python_and_runs_as_a_non_root_user():
    assert instructions("FROM") == [f"python:{newest_supported_python()}-slim"]
    users = instructions("USER")
    assert users, "the image must switch to a non-root user"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert re.search(rf"--uid {users[-1].split(':')[0]}\b", " ".join(instructions("RUN")))


def test_the_entrypoint_is_flask_with_a_command_the_app_really_has(cli_group):
    entrypoint = json.loads(instructions("ENTRYPOINT")[-1])  # the exec form: a JSON list

    assert entrypoint == ["flask", JOB_COMMAND]
    assert app_command(cli_group, entrypoint[1]) is not None
    assert instructions("CMD") == []


def test_flask_app_names_the_same_factory_as_the_repository(monkeypatch):
    module_name, _, attribute = env_settings()["FLASK_APP"].partition(":")
    flaskenv = dict(
        line.split("=", 1) for line in (REPO_ROOT / ".flaskenv").read_text().splitlines() if "=" in line and not line.startswith("#")
    )

    factory = getattr(importlib.import_module(module_name), attribute)

    assert env_settings()["FLASK_APP"] == flaskenv["FLASK_APP"]
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    assert JOB_COMMAND in factory().cli.list_commands(None)


def test_the_image_installs_the_lock_file_then_this_package_and_nothing_else():
    runs = instructions("RUN")
    installs = [run for run in runs if re.search(r"\bpip\b|\bapt-get\b|\bapk\b|\bconda\b|\buv\b", run)]
    pip_commands = [part.strip() for run in installs for part in run.split("&&") if re.search(r"\bpip\b", part)]
    assert pip_commands == [
        "pip install --no-deps --require-hashes -r requirements.lock",
        "pip install --no-deps .",
        "pip check",
    ], pip_commands


def test_the_build_context_holds_what_pyproject_needs_and_no_tests():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    copied = {Path(shlex.split(arguments)[0]).name for arguments in instructions("COPY")}
    copied |= {part for arguments in instructions("COPY") for part in shlex.split(arguments)[:-1]}
    needed = {"pyproject.toml", pyproject["project"]["readme"], "requirements.lock"}
    needed |= {Path(folder).parts[0] for folder in pyproject["tool"]["setuptools"]["package-dir"].values()}
    assert needed <= copied, needed - copied

    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore
    for name in needed:
        assert f"!{name}" in ignore or f"!{name}/" in ignore
    assert "backend/tests/" in ignore


def test_the_image_never_reads_a_dotenv_file_and_names_no_development_environment():
    """The checkout's .flaskenv says OPS_ENV_NAME=local; the image must stay a deployed environment."""
    from ops_api.config import DEVELOPMENT_ENV_NAMES

    flaskenv = dict(
        line.split("=", 1) for line in (REPO_ROOT / ".flaskenv").read_text().splitlines() if "=" in line and not line.startswith("#")
    )
    assert flaskenv["OPS_ENV_NAME"] in DEVELOPMENT_ENV_NAMES  # so the README's first command works from a checkout
    assert env_settings()["FLASK_SKIP_DOTENV"] == "1"
    assert "OPS_ENV_NAME" not in env_settings()
    ignore = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore and not any(line.startswith("!.") for line in ignore)  # no dotfile enters the build context
    assert not any(".flaskenv" in arguments or ".env" in arguments for arguments in instructions("COPY"))


def test_no_secret_is_baked_into_the_image():
    for key in env_settings():
        assert not SECRET_NAMES.search(key), key
    for arguments in instructions("ARG"):
        assert not SECRET_NAMES.search(arguments), arguments
    copied = " ".join(instructions("COPY") + instructions("ADD"))
    assert ".env" not in copied and "instance" not in copied


# -- deploy/ ---------------------------------------------------------------------


def load(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "deploy" / name).read_text())


def test_the_container_apps_job_runs_hourly_one_replica_at_a_time():
    configuration = load("containerapp-job.yaml")["properties"]["configuration"]

    assert configuration["triggerType"] == "Schedule"
    schedule = configuration["scheduleTriggerConfig"]
    assert schedule["cronExpression"] == "0 * * * *"
    assert schedule["parallelism"] == 1 and schedule["replicaCompletionCount"] == 1
    assert 60 <= configuration["replicaTimeout"] <= 1800  # well under the hour between runs
    assert isinstance(configuration["replicaRetryLimit"], int) and 0 <= configuration["replicaRetryLimit"] <= 2


def identity_ids(job: dict) -> dict[str, str]:
    """Where the job names a managed identity: its identity block, the registry and every Key Vault secret."""
    configuration = job["properties"]["configuration"]
    (declared,) = job["identity"]["userAssignedIdentities"]
    found = {"identity": declared}
    found |= {f"registry {r['server']}": r["identity"] for r in configuration["registries"]}
    found |= {f"secret {s['name']}": s["identity"] for s in configuration["secrets"]}
    return found


USER_ASSIGNED_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.ManagedIdentity/userAssignedIdentities/(?P<name>[^/]+)$"
)


def test_the_container_apps_job_pulls_and_reads_secrets_as_one_user_assigned_identity():
    job = load("containerapp-job.yaml")

    assert job["identity"]["type"] == "UserAssigned"
    ids = identity_ids(job)
    assert set(ids.values()) == {ids["identity"]}, ids  # the same identity everywhere, never "system"
    assert USER_ASSIGNED_ID.match(ids["identity"]), ids["identity"]


def test_the_runbook_creates_the_identity_and_grants_its_access_before_the_job_is_created():
    job = load("containerapp-job.yaml")
    identity = USER_ASSIGNED_ID.match(identity_ids(job)["identity"])["name"]
    registry = job["properties"]["configuration"]["registries"][0]["server"].split(".")[0]
    secrets = [s["keyVaultUrl"].rsplit("/", 1)[1] for s in job["properties"]["configuration"]["secrets"]]
    lines = shell_lines(REPO_ROOT / "docs" / "runbook.md")

    def first(predicate) -> int:
        positions = [i for i, line in enumerate(lines) if predicate(line)]
        assert positions, "a step is missing from the runbook"
        return positions[0]

    created = first(lambda line: line.startswith("az identity create") and f"--name {identity}" in line)
    acr_pull = first(lambda line: line.startswith("az role assignment create") and "--role AcrPull" in line and f"az acr show --name {registry}" in line)
    secret_grants = [
        first(
            lambda line, secret=secret: line.startswith("az role assignment create")
            and '--role "Key Vault Secrets User"' in line
            and line.rstrip('"').endswith(f"/secrets/{secret}")
        )
        for secret in secrets
    ]
    job_created = first(lambda line: line.startswith("az containerapp job create") and "deploy/containerapp-job.yaml" in line)

    assert created < acr_pull < job_created
    assert all(created < grant < job_created for grant in secret_grants)
    assert all('--assignee-object-id "$PRINCIPAL_ID"' in lines[i] for i in (acr_pull, *secret_grants))


def test_the_container_apps_job_runs_the_real_command_with_secrets_from_secret_refs(cli_group):
    job = load("containerapp-job.yaml")
    (container,) = job["properties"]["template"]["containers"]
    secrets = {secret["name"]: secret for secret in job["properties"]["configuration"]["secrets"]}

    assert container["command"] == ["flask", JOB_COMMAND]
    assert app_command(cli_group, container["command"][1]) is not None
    env = {item["name"]: item for item in container["env"]}
    for name in ("DATABASE_URL", "OPS_ALERT_URLS"):
        assert set(env[name]) == {"name", "secretRef"}, env[name]  # never a literal value
        assert env[name]["secretRef"] in secrets
    assert env["OPS_ENV_NAME"]["value"]
    for secret in secrets.values():
        assert "value" not in secret  # read from Key Vault, not written here
        assert secret["keyVaultUrl"].startswith("https://")


def test_the_kubernetes_cronjob_runs_hourly_and_never_overlaps():
    cronjob = load("kubernetes-cronjob.yaml")

    assert (cronjob["apiVersion"], cronjob["kind"]) == ("batch/v1", "CronJob")
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert 60 <= job["activeDeadlineSeconds"] <= 1800
    assert isinstance(job["backoffLimit"], int) and 0 <= job["backoffLimit"] <= 2


def test_the_kubernetes_cronjob_runs_the_real_command_with_secrets_from_secret_key_refs(cli_group):
    cronjob = load("kubernetes-cronjob.yaml")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert container["command"] == ["flask", JOB_COMMAND]
    assert app_command(cli_group, container["command"][1]) is not None
    env = {item["name"]: item for item in container["env"]}
    for name in ("DATABASE_URL", "OPS_ALERT_URLS"):
        assert "value" not in env[name]
        reference = env[name]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == "ops-disable-inactive-users" and reference["key"]
    assert env["OPS_ENV_NAME"]["value"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == instructions("USER")[-1].split(":")[0]


# The oldest Kubernetes the README promises, and the newest whose schemas kubernetes-validate carries.
OLDEST_KUBERNETES = re.search(r"Kubernetes (\d+\.\d+) or newer", (REPO_ROOT / "README.md").read_text())[1]
NEWEST_KUBERNETES = kubernetes_validate.latest_version()


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, NEWEST_KUBERNETES])
def test_the_kubernetes_cronjob_is_valid_from_the_oldest_kubernetes_the_readme_names_to_the_newest(version):
    checked = kubernetes_validate.validate(load("kubernetes-cronjob.yaml"), version, strict=True)

    assert checked == ".".join(version.split(".")[:2])  # that version's own schema, not an older one's


def test_the_schema_check_catches_a_pod_failure_rule_that_only_newer_kubernetes_accepts():
    # The mistake this check exists for: without onPodConditions, Kubernetes before 1.29 refuses the rule.
    cronjob = load("kubernetes-cronjob.yaml")
    for rule in cronjob["spec"]["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]:
        del rule["onPodConditions"]

    with pytest.raises(kubernetes_validate.ValidationError, match="onPodConditions"):
        kubernetes_validate.validate(cronjob, OLDEST_KUBERNETES, strict=True)
    kubernetes_validate.validate(cronjob, NEWEST_KUBERNETES, strict=True)


def test_the_kubernetes_cronjob_does_not_retry_what_would_only_repeat_itself():
    job = load("kubernetes-cronjob.yaml")["spec"]["jobTemplate"]["spec"]
    (rule,) = job["podFailurePolicy"]["rules"]
    container = job["template"]["spec"]["containers"][0]["name"]

    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"]["containerName"] == container
    assert sorted(rule["onExitCodes"]["values"]) == sorted([EXIT_USAGE, EXIT_REFUSED_BY_CAP])
    assert rule["onPodConditions"] == []  # required before 1.29; empty, it matches nothing


# -- the runbook -------------------------------------------------------------------


def shell_lines(path: Path) -> list[str]:
    """Commands in the file's ```sh blocks, continuation lines joined, comments dropped."""
    lines, in_block, current = [], False, ""
    for line in path.read_text().splitlines():
        if line.strip().startswith("```"):  # fences may be indented under a list item
            in_block = line.strip() in ("```sh", "```bash") if not in_block else False
            continue
        if not in_block or not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        lines.append((current + line).strip())
        current = ""
    return lines


def flask_invocations(path: Path) -> list[list[str]]:
    found = []
    for line in shell_lines(path):
        # The shell's own tokens: operators (&&, ||, ;, |, >) come out as words of their own.
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        commands, words = [], []
        for token in lexer:
            if token in ("&&", "||", ";", "|"):
                commands.append(words)
                words = []
            else:
                words.append(token)
        commands.append(words)
        for words in commands:
            if ">" in words:  # a redirection of the output, not an argument
                words = words[: words.index(">")]
            # A date the shell computes ($(date -u +%F)) stands for a date.
            words = ["2026-01-01" if word.startswith("$(date") else word for word in words]
            while words and "=" in words[0]:  # VAR=value prefixes
                words = words[1:]
            if words and Path(words[0]).name == "flask":
                found.append(words[1:])
    return found


@pytest.mark.parametrize("document", ["docs/runbook.md", "README.md"])
def test_every_flask_command_in_the_docs_is_one_the_app_accepts(cli_group, document):
    invocations = flask_invocations(REPO_ROOT / document)
    assert invocations

    for words in invocations:
        name, *args = words
        command = app_command(cli_group, name)
        assert command is not None, f"{document}: flask {name} is no command"
        if name == "db":
            continue  # Flask-Migrate's group; `db upgrade` is run by test_cli_setup
        command.make_context(name, list(args))  # raises on an unknown option or a bad value


def test_the_runbook_covers_every_exit_code_and_alert():
    runbook = (REPO_ROOT / "docs" / "runbook.md").read_text()

    for text in (
        "--dry-run",
        "--as-of",
        "--max-disable",
        "disable-inactive-users-health",
        "/api/v1/health/disable-inactive-users",
        "alert_failed",
        "FAILED: could not run",
        "REFUSED by the safety cap",
        "OPS_ALERT_URLS",
        "OPS_ENV_NAME",
    ):
        assert text in runbook, text
    for code in (0, 1, 2, 3):
        assert re.search(rf"^\| {code} \|", runbook, re.MULTILINE), f"exit code {code}"


def test_the_runbooks_platform_commands_use_the_names_in_deploy():
    runbook_lines = shell_lines(REPO_ROOT / "docs" / "runbook.md")
    cronjob_name = load("kubernetes-cronjob.yaml")["metadata"]["name"]
    container = load("containerapp-job.yaml")["properties"]["template"]["containers"][0]["name"]

    for line in runbook_lines:
        if line.startswith("kubectl") and "cronjob/" in line:
            assert f"cronjob/{cronjob_name}" in line, line
        if line.startswith("az containerapp job") and "--container" in line:
            assert f"--container {container}" in line, line
    assert any(line.startswith("az containerapp job create") and "deploy/containerapp-job.yaml" in line for line in runbook_lines)
    assert any(line.startswith("kubectl apply -f deploy/kubernetes-cronjob.yaml") for line in runbook_lines)
