"""What a release ships, built by its script from a copy of the work tree (tests/release/conftest.py): every file of
`dist/` named in `SHA256SUMS` with the checksum it has; the wheels carry the bot's data files and the commit they
were built from; the SBOMs are CycloneDX documents of their package; and, as a user installs them, both Python
packages install by name from a local index (`pypiserver`, started here; their dependencies from the real index)
into a clean venv outside the repository, where `python -m bot --version` says the release and `python -m bot dev`
serves the local Slack. Every extra resolves by name (`uv pip compile`, four at once: the frameworks' own installs
are tests/agents/test_packaging.py's)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import bot
from bot.core.version import described, npm_form
from tests.conftest import free_port
from tests.release.conftest import SIGNER
from tests.support.dev import dev_environment, http, start_dev, wait_until
from tests.support.release import answers
from tests.support.source import ROOT
from tests.support.venvs import NO_COMPILE, fresh_venv, shared_folder

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # the release built, venvs installing from the index

VERSION = bot.__version__
NPM = npm_form(VERSION)  # the npm package's (X.Y.Z-dev.N between releases)
WHEELS = {"slack-agent-approvals": f"slack_agent_approvals-{VERSION}-py3-none-any.whl",
          "agent-approvals": f"agent_approvals-{VERSION}-py3-none-any.whl"}
SIGNATURES = {"SHA256SUMS.sig", "provenance.intoto.json.sig"}
ARTEFACTS = {*WHEELS.values(), f"slack_agent_approvals-{VERSION}.tar.gz", f"agent_approvals-{VERSION}.tar.gz",
             f"agent-approvals-{NPM}.tgz", f"slack-agent-approvals-{VERSION}.cdx.json",
             f"agent-approvals-{VERSION}.cdx.json", f"agent-approvals-{NPM}.npm.cdx.json"}


def test_every_artefact_is_in_sha256sums_and_every_checksum_matches(released: tuple[Path, Path]) -> None:
    _, dist = released
    listed = {name: digest for digest, name in (line.split("  ", 1)
                                                 for line in (dist / "SHA256SUMS").read_text().splitlines())}
    assert set(listed) == {path.name for path in dist.iterdir()} - {"SHA256SUMS", *SIGNATURES}
    assert {*ARTEFACTS, "provenance.intoto.json"} <= set(listed), sorted(listed)
    for name, digest in listed.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest, name
    checked = subprocess.run(["sha256sum", "--check", "--strict", "SHA256SUMS"], cwd=dist, capture_output=True,
                             text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def documented_verification() -> str:
    """The commands docs/contributors/releasing.md tells a user to check a release with (the README's too)."""
    page = (ROOT / "docs/contributors/releasing.md").read_text()
    (verify,) = re.findall(r"^\s*(ssh-keygen -Y verify .*SHA256SUMS\.sig < SHA256SUMS)$", page, flags=re.MULTILINE)
    assert verify in (ROOT / "README.md").read_text(), "the README's install section says the same command"
    assert "sha256sum -c SHA256SUMS" in page
    return f"{verify} && sha256sum --check --strict SHA256SUMS"


def checking_folder(dist: Path, allowed_signers: Path, where: Path) -> Path:
    """What a user downloads (dist/'s files) and the allowed_signers, in one folder."""
    for path in dist.iterdir():
        (where / path.name).symlink_to(path)
    shutil.copy(allowed_signers, where / "allowed_signers")
    return where


def test_sha256sums_is_signed_verifies_by_the_documented_commands_and_a_tampered_one_is_refused(
    released: tuple[Path, Path], allowed_signers: Path, tmp_path: Path
) -> None:
    _, dist = released
    where = checking_folder(dist, allowed_signers, tmp_path)
    command = documented_verification()
    checked = subprocess.run(command, shell=True, cwd=where, capture_output=True, text=True, check=False)
    said = checked.stdout + checked.stderr
    assert checked.returncode == 0 and f'Good "file" signature for {SIGNER}' in said, said
    (where / "SHA256SUMS").unlink()  # a checksum changed (as for an artefact swapped with its checksum)
    sums = (dist / "SHA256SUMS").read_text()
    (where / "SHA256SUMS").write_text(("0" if sums[0] != "0" else "1") + sums[1:])
    refused = subprocess.run(command, shell=True, cwd=where, capture_output=True, text=True, check=False)
    assert refused.returncode != 0 and "Good" not in refused.stdout + refused.stderr, refused
    (where / "allowed_signers").write_text((ROOT / "deploy/release/allowed_signers").read_text())
    (where / "SHA256SUMS").write_text(sums)  # intact, but a key the published file does not name
    assert subprocess.run(command, shell=True, cwd=where, capture_output=True, check=False).returncode != 0


def test_the_provenance_names_each_artefacts_digest_and_the_commit_and_is_signed(
    released: tuple[Path, Path], allowed_signers: Path
) -> None:
    source, dist = released
    statement = json.loads((dist / "provenance.intoto.json").read_text())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    subjects = {subject["name"]: subject["digest"]["sha256"] for subject in statement["subject"]}
    assert set(subjects) == {path.name for path in dist.iterdir()} - {"SHA256SUMS", "provenance.intoto.json",
                                                                        *SIGNATURES}
    assert ARTEFACTS <= set(subjects)
    for name, digest in subjects.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest, name
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, check=True)
    build = statement["predicate"]["buildDefinition"]
    assert [d["digest"]["gitCommit"] for d in build["resolvedDependencies"]] == [head.stdout.strip()]
    assert build["externalParameters"]["version"] == VERSION
    assert statement["predicate"]["runDetails"]["builder"]["id"].startswith("https://")
    with (dist / "provenance.intoto.json").open("rb") as signed:
        verified = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed_signers), "-I", SIGNER, "-n",
                                   "file", "-s", str(dist / "provenance.intoto.json.sig")], stdin=signed,
                                  capture_output=True, text=True, check=False)
    assert verified.returncode == 0, verified.stderr


def test_the_bots_wheel_carries_its_data_files_and_the_commit_it_was_built_from(released: tuple[Path, Path]) -> None:
    source, dist = released
    with zipfile.ZipFile(dist / WHEELS["slack-agent-approvals"]) as wheel:
        inside = set(wheel.namelist())
        commit = wheel.read("bot/core/BUILD_COMMIT").decode().strip()
    data = subprocess.run(["git", "ls-files", "bot"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.split()
    data_files = {name for name in data if not name.endswith(".py")}
    assert {name for name in data_files if name.endswith(".lua")}, "no Lua in the work tree?"
    pages = {name for name in data_files if name.startswith("bot/templates/")}  # the pages' templates and scripts
    assert {"bot/templates/stepup/vote.html", "bot/templates/scripts/passkey.js"} <= pages, sorted(pages)
    assert data_files <= inside, sorted(data_files - inside)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, check=True)
    assert commit == head.stdout.strip()
    with zipfile.ZipFile(dist / WHEELS["agent-approvals"]) as wheel:
        assert "agent_approvals/py.typed" in wheel.namelist()


@pytest.mark.parametrize(("sbom", "package"), [("slack-agent-approvals", "slack-agent-approvals"),
                                               ("agent-approvals", "agent-approvals"),
                                               ("agent-approvals.npm", "agent-approvals")])
def test_each_sbom_is_cyclonedx_of_its_package_and_what_it_installs(released: tuple[Path, Path], sbom: str,
                                                                     package: str) -> None:
    _, dist = released
    version = NPM if ".npm" in sbom else VERSION
    document = json.loads((dist / f"{sbom.replace('.npm', '')}-{version}{'.npm' if '.npm' in sbom else ''}"
                                   ".cdx.json").read_text())
    assert document["bomFormat"] == "CycloneDX", document.keys()
    component = document["metadata"]["component"]
    assert (component["name"], component["version"]) == (package, version), component
    names = {found["name"].lower().replace("_", "-") for found in document.get("components", [])}
    wanted = {"slack-agent-approvals": {"slack-bolt", "redis", "agent-approvals"}, "agent-approvals": {"httpx"},
              "agent-approvals.npm": {"jose"}}[sbom]
    assert wanted <= names, sorted(names)
    assert not {"typescript", "eslint", "pytest"} & names  # what it installs, not what builds or tests it


@pytest.fixture(scope="module")
def index(released: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local package index serving this release's wheels and sdists (pypiserver), nothing else."""
    _, dist = released
    packages = tmp_path_factory.mktemp("index")
    for path in dist.iterdir():
        if path.name.endswith((".whl", ".tar.gz")):
            (packages / path.name).symlink_to(path)
    port = free_port()
    log = (packages.parent / "pypiserver.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1", "-p", str(port),
                               "-a", ".", "-P", ".", "--disable-fallback", str(packages)],
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/simple/"
    try:
        wait_until(lambda: answers(server, url), timeout=60, what="pypiserver")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def pip(python: Path, index: str, *args: str) -> subprocess.CompletedProcess[str]:
    """pip of the venv, this release from the local index, the rest from the real one (as pip's own config says:
    --extra-index-url)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    return subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args, "--index-url", index,
                           "--extra-index-url", "https://pypi.org/simple/"], cwd=python.parents[2], env=env,
                          capture_output=True, text=True, timeout=900, check=False)


def test_both_packages_install_by_name_and_dev_serves_the_local_slack(
    index: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> None:
    python = fresh_venv(shared_folder(tmp_path_factory, worker_id), tmp_path / "venv")  # a copy of the run's fresh one
    report = tmp_path / "report.json"
    # by name and version: a development version (main's) is a pre-release, which pip takes only when named
    installed = pip(python, index, "install", "-q", NO_COMPILE, "--report", str(report),
                    f"slack-agent-approvals=={VERSION}", f"agent-approvals[openai-agents]=={VERSION}")
    assert installed.returncode == 0, installed.stderr[-3000:]
    came_from = {item["metadata"]["name"]: item["download_info"]["url"] for item in json.loads(report.read_text())
                 ["install"]}
    for name, wheel in WHEELS.items():  # by name, from the local index: this release's wheel
        assert came_from[name] == index.removesuffix("simple/") + "packages/" + wheel, came_from[name]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    said = subprocess.run([str(python), "-m", "bot", "--version"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert said.stdout.strip() == f"slack-agent-approvals {described(VERSION)}", said.stdout + said.stderr
    imported = subprocess.run([str(python), "-c", "import agent_approvals.integrations.openai_agents, bot;"
                               " print(bot.__file__)"], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=120, check=False)
    assert imported.returncode == 0 and str(tmp_path / "venv") in imported.stdout, imported.stderr[-2000:]
    env = dev_environment()
    env.pop("PYTHONPATH", None)
    dev = start_dev(free_port(), env, tmp_path, python=python, cwd=tmp_path)  # waits for its page to answer 200
    try:
        status, page = http("GET", dev.url + "/")
        assert status == 200 and "<html" in str(page).lower(), page
    finally:
        dev.stop()


def test_every_extra_resolves_by_name(index: str, tmp_path: Path) -> None:
    """Each extra of both packages, by name, resolved alone (`uv pip compile`: resolve only, in seconds; pip's own
    resolution takes minutes over every framework): it resolves, this release's packages from the local index, and
    the extra's requirements are in what it resolves to."""
    uv = shutil.which("uv")
    assert uv is not None, "uv is the release extra's: pip install -e '.[test]'"
    asked: dict[str, tuple[str, list[str]]] = {}  # what is asked: (its package, the extra's requirements)
    for package, pyproject in (("agent-approvals", ROOT / "agents/pyproject.toml"),
                               ("slack-agent-approvals", ROOT / "pyproject.toml")):
        extras = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]
        for extra, requirements in extras.items():
            if package == "slack-agent-approvals" and extra == "test":
                continue  # the suite's own, not a user's
            # (a development version: a pre-release, taken when named)
            asked[f"{package}[{extra}]=={VERSION}"] = (package, requirements)

    def problem(one: str) -> str | None:
        package, requirements = asked[one]
        done = subprocess.run([uv, "pip", "compile", "-", "--quiet", "--no-header", "--python-version", "3.11",
                               "--index-url", index, "--extra-index-url", "https://pypi.org/simple/"],
                              input=one, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
        pinned = dict(line.split("==", 1) for line in done.stdout.splitlines() if "==" in line)
        names = {name.split("[")[0].strip().lower().replace("_", "-") for name in pinned}
        need = {Requirement(r).name.lower().replace("_", "-") for r in requirements}
        if done.returncode != 0 or not need <= names or pinned.get(package, "").strip() != VERSION:
            return done.stderr[-800:] or f"missing {sorted(need - names)}"
        return None

    with ThreadPoolExecutor(max_workers=4) as pool:  # each mostly waits on the indexes' answers
        found = dict(zip(asked, pool.map(problem, asked), strict=True))
    assert {one: said for one, said in found.items() if said is not None} == {}
