"""Cut a release, or build one's artefacts (docs/contributors/releasing.md).

    python scripts/release.py 0.9.0 --signing-key KEY   # bump the version everywhere, move CHANGELOG.md's
                                             # Unreleased under "0.9.0 - today", commit "Release 0.9.0", tag v0.9.0,
                                             # build dist/ and sign it; then commit the next development version
                                             # (0.10.0.dev0) everywhere: "Begin 0.10.0.dev0"
    python scripts/release.py --check        # build dist/ at the version the files say, nothing bumped (CI)
    ... --image                              # and the image archive (scripts/build_image.py, minutes)

dist/ then holds: the wheel and sdist of `slack-agent-approvals` (the root pyproject.toml) and of `agent-approvals`
(agents/), the npm tarball of `agent-approvals` (agents/typescript, every adapter built at pack time), a CycloneDX
SBOM of each of the three, the image archive with --image, the provenance `provenance.intoto.json` (an in-toto
Statement, SLSA provenance v1: each artefact's sha256, the commit, the builder), SHA256SUMS of all of them
(`sha256sum -c SHA256SUMS`), and with --signing-key (an SSH key: `ssh-keygen -Y sign -n file`) `SHA256SUMS.sig` and
`provenance.intoto.json.sig`, which `ssh-keygen -Y verify` checks against deploy/release/allowed_signers.
The version lives in the files (`bot/core/version.py` and the others tests/test_version.py checks), never in a tag:
a clone without tags says the same; between releases it is the next one's development version (X.Y.Z.devN; npm's
form X.Y.Z-dev.N). Needs `pip install -e ".[release]"`, npm and ssh-keygen."""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import venv
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NPM = ROOT / "agents" / "typescript"
SUITE = ROOT / "tests" / "agents" / "typescript" / "project"
# the npm SBOM's tool (cyclonedx-npm), an npm project of its own: not among the package's devDependencies, whose every
# `npm install` would build its optional XML validator (libxmljs2) from its sources for nothing but the release
SBOM_TOOL = ROOT / "scripts" / "sbom"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
# where the version is written: file -> the pattern whose group 2 is it (tests/test_version.py checks they agree)
VERSIONED = {
    "bot/core/version.py": r'^(__version__ = ")([^"]+)(")$',
    "agents/agent_approvals/wire.py": r'^(VERSION = ")([^"]+)(")',
    "agents/typescript/src/wire.ts": r'^(export const VERSION = ")([^"]+)(";)$',  # npm's form
    "pyproject.toml": r'^(version = ")([^"]+)(")$',
    "agents/pyproject.toml": r'^(version = ")([^"]+)(")$',
    # the image the manifests run: a release's only (between releases they run the last one: what one deploys)
    "deploy/kubernetes/kustomization.yaml": r'^(    newTag: ")([^"]+)(")',
}
NPM_FORM = {"agents/typescript/src/wire.ts"}
RELEASES_ONLY = {"deploy/kubernetes/kustomization.yaml"}
NPM_JSON = ("agents/typescript/package.json", "agents/typescript/package-lock.json",
            "tests/agents/typescript/project/package-lock.json")
ADAPTERS = ("ai-sdk", "mastra", "openai-agents", "langgraph")
UNRELEASED = "## [Unreleased]"
CHECKSUMS, PROVENANCE = "SHA256SUMS", "provenance.intoto.json"
NAMESPACE = "file"  # ssh-keygen -Y's namespace for the signatures (the verify command names it)
SOURCE = "https://github.com/agent-approvals/agent-approvals"
BUILD_TYPE = f"{SOURCE}/blob/main/docs/contributors/releasing.md#provenance"
BUILDER = f"{SOURCE}/blob/main/scripts/release.py"  # --builder-id: your CI's or machine's id instead


class ReleaseError(Exception):
    """What stops a release, said in one line."""


def load_versions() -> ModuleType:
    """bot/core/version.py (the forms of a version: `parts`, `npm_form`...), read without importing the bot."""
    spec = importlib.util.spec_from_file_location("bot_version", ROOT / "bot" / "core" / "version.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VERSIONS = load_versions()


def current_version() -> str:
    found = re.search(VERSIONED["bot/core/version.py"], (ROOT / "bot/core/version.py").read_text(), re.M)
    assert found is not None
    return found.group(2)


def semver(version: str) -> tuple[int, int, int]:
    found = SEMVER.match(version)
    if found is None:
        raise ReleaseError(f"{version!r} is not a version MAJOR.MINOR.PATCH (semver, no prefix)")
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


def next_development(released: str) -> str:
    """The development version after the release `released`: X.(Y+1).0.dev0."""
    major, minor, _ = semver(released)
    return f"{major}.{minor + 1}.0.dev0"


def bump(new: str, *, root: Path = ROOT) -> list[str]:
    """Write `new` wherever the version is: the files of VERSIONED (each exactly once; npm's form where NPM_FORM
    says; RELEASES_ONLY's at a release only) and the npm manifests (the package's own entry, npm's form). Returns the
    files changed."""
    changed = []
    development = VERSIONS.is_development(new)
    npm = VERSIONS.npm_form(new)
    for name, pattern in VERSIONED.items():
        if development and name in RELEASES_ONLY:
            continue
        path = root / name
        written = npm if name in NPM_FORM else new
        text, count = re.subn(pattern, lambda m, to=written: m.group(1) + to + m.group(3), path.read_text(),
                              count=1, flags=re.M)
        if count != 1:
            raise ReleaseError(f"{name}: no version line found ({pattern})")
        path.write_text(text)
        changed.append(name)
    for name in NPM_JSON:
        path = root / name
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        if data.get("name") == "agent-approvals":
            data["version"] = npm
        for entry in data.get("packages", {}).values():  # a lock's entries: the package itself, or linked (file:)
            if entry.get("name") == "agent-approvals" and "version" in entry:
                entry["version"] = npm
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        changed.append(name)
    return changed


def move_unreleased(new: str, date: str, *, root: Path = ROOT) -> None:
    """CHANGELOG.md: what "Unreleased" says becomes the section `## [new] - date`, under a new, empty Unreleased.
    A release names its upgrade notes: refused when the section has no "### Upgrade notes"."""
    path = root / "CHANGELOG.md"
    text = path.read_text()
    start = text.find(UNRELEASED + "\n")
    if start < 0:
        raise ReleaseError("CHANGELOG.md has no '## [Unreleased]' section")
    body_start = start + len(UNRELEASED) + 1
    following = re.search(r"^## \[", text[body_start:], re.M)
    body_end = body_start + following.start() if following else len(text)
    body = text[body_start:body_end].strip("\n")
    if not re.search(r"^### ", body, re.M):
        raise ReleaseError("CHANGELOG.md's Unreleased section is empty: nothing to release")
    if not re.search(r"^### Upgrade notes$", body, re.M):
        raise ReleaseError("CHANGELOG.md's Unreleased section has no '### Upgrade notes' (the stored format, which"
                           " versions serve one Redis side by side): write them first")
    released = f"{UNRELEASED}\n\n## [{new}] - {date}\n\n{body}\n\n"
    path.write_text(text[:start] + released + text[body_end:].lstrip("\n"))


def run(*command: str | Path, cwd: Path = ROOT) -> str:
    print("+", " ".join(str(part) for part in command), flush=True)
    done = subprocess.run([str(part) for part in command], cwd=cwd, text=True, stdout=subprocess.PIPE)
    if done.returncode != 0:
        sys.stdout.write(done.stdout)
        said = " ".join(str(part) for part in command)
        raise ReleaseError(f"{Path(str(command[0])).name} failed (exit {done.returncode}): {said}")
    return done.stdout


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, text=True, capture_output=True)
    return done.stdout.strip() if done.returncode == 0 else ""


def build_python(dist: Path, version: str) -> None:
    """Wheel and sdist of both packages (`python -m build`); the bot's wheel records the commit it is built from
    (bot/core/BUILD_COMMIT, removed again: a clone's worker says "unknown")."""
    commit_file = ROOT / "bot" / "core" / "BUILD_COMMIT"
    commit = git_commit()
    try:
        if commit:
            commit_file.write_text(commit + "\n")
        run(sys.executable, "-m", "build", "--outdir", dist, ROOT)
    finally:
        commit_file.unlink(missing_ok=True)
    run(sys.executable, "-m", "build", "--outdir", dist, ROOT / "agents")
    built = sorted(path.name for path in dist.iterdir())
    for name in ("slack_agent_approvals", "agent_approvals"):
        if f"{name}-{version}.tar.gz" not in built or f"{name}-{version}-py3-none-any.whl" not in built:
            raise ReleaseError(f"python -m build made {built}, not {name}'s {version} wheel and sdist")
    run(sys.executable, "-m", "twine", "check", "--strict", *sorted(dist.glob("*.whl")), *sorted(dist.glob("*.tar.gz")))


def build_npm(dist: Path, version: str) -> Path:
    """`npm pack` of agents/typescript with every adapter built at pack time (its `prepack`: `build.mjs --all`),
    checked: every file its `exports` names is in it; publint and arethetypeswrong pass. The frameworks the adapters
    are built against are the suite's project's (tests/agents/typescript/project: the versions the suite tests), seen
    from a staged copy of the package: not installed into agents/typescript itself, where the suite's link (file:)
    would give its tests a second copy of each framework."""
    for folder in (NPM, SUITE):
        if not (folder / "node_modules").is_dir():
            run("npm", "ci", "--no-audit", "--no-fund", cwd=folder)
    with tempfile.TemporaryDirectory(prefix="npm-pack-") as scratch:
        stage = Path(scratch) / "agent-approvals"
        files = run("git", "ls-files", "--cached", "--others", "--exclude-standard", ".", cwd=NPM).split()
        for name in files:
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(NPM / name, stage / name)
        (stage / "node_modules").symlink_to(NPM / "node_modules")  # its own: jose, typescript, @types/node
        (Path(scratch) / "node_modules").symlink_to(SUITE / "node_modules")  # the frameworks, beside it
        out = run("npm", "pack", "--json", "--pack-destination", dist, cwd=stage)
    listing = re.search(r"^\[", out, re.M)  # after the scripts' own lines
    if listing is None:
        raise ReleaseError(f"npm pack said no file list: {out[-500:]}")
    tarball = dist / str(json.loads(out[listing.start():])[0]["filename"])
    if tarball.name != f"agent-approvals-{VERSIONS.npm_form(version)}.tgz":
        raise ReleaseError(f"npm pack made {tarball.name}, not agent-approvals-{VERSIONS.npm_form(version)}.tgz")
    with tarfile.open(tarball) as packed:
        packed_names = set(packed.getnames())
    exports = json.loads((NPM / "package.json").read_text())["exports"]
    missing = [target for entry in exports.values() for target in entry.values()
               if "package/" + target.removeprefix("./") not in packed_names]
    if missing:
        raise ReleaseError(f"{tarball.name} lacks what its exports name: {missing}")
    run(NPM / "node_modules/.bin/publint", "run", "--strict", tarball.resolve(), cwd=NPM)
    run(NPM / "node_modules/.bin/attw", tarball.resolve(), "--profile", "esm-only", cwd=NPM)
    return tarball


def sbom_python(dist: Path, version: str) -> None:
    """A CycloneDX SBOM of each Python package: its wheel and what it resolves to today, installed alone in a
    throwaway environment (`cyclonedx-py environment`); both at once."""
    wheels = {name: dist / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
              for name in ("slack-agent-approvals", "agent-approvals")}

    def one(name: str, pyproject: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="sbom-") as scratch:
            env = Path(scratch) / "venv"
            venv.create(env, with_pip=False)  # nothing but the package and its dependencies in it
            python = env / "bin" / "python"
            # the bot's wheel needs agent-approvals: this release's, from dist/
            given = [wheels[name]] if name == "agent-approvals" else [wheels[name], wheels["agent-approvals"]]
            uv = shutil.which("uv")  # the `release` extra's: the same resolution as pip's, in seconds, not minutes
            if uv is not None:
                run(uv, "pip", "install", "-q", "--python", python, *given)
            else:
                run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile", *given)
            run("cyclonedx-py", "environment", "--pyproject", pyproject, "--mc-type", "library",
                "--output-reproducible", "-o", dist / f"{name}-{version}.cdx.json", python)

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [pool.submit(one, "agent-approvals", ROOT / "agents/pyproject.toml"),
                pool.submit(one, "slack-agent-approvals", ROOT / "pyproject.toml")]
        for each in done:
            each.result()


def sbom_npm(dist: Path, version: str) -> None:
    """A CycloneDX SBOM of the npm package: what installs with it (its dependencies; no devDependencies), by the
    tool of scripts/sbom, installed from its lock first if it is not (`--ignore-scripts`: its one install script
    builds libxmljs2, the optional XML validator its JSON SBOM does not use)."""
    tool = SBOM_TOOL / "node_modules/.bin/cyclonedx-npm"
    if not tool.exists():
        run("npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", cwd=SBOM_TOOL)
    run(tool, "--omit", "dev", "--output-reproducible", "--output-file",
        dist / f"agent-approvals-{VERSIONS.npm_form(version)}.npm.cdx.json", cwd=NPM)


def npm_artefacts(dist: Path, version: str) -> None:
    build_npm(dist, version)
    sbom_npm(dist, version)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as read:
        for block in iter(lambda: read.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def artefacts(dist: Path) -> list[Path]:
    """What dist/ ships, its checksums and signatures aside."""
    return [path for path in sorted(dist.iterdir())
            if path.is_file() and path.name not in (CHECKSUMS, PROVENANCE) and not path.name.endswith(".sig")]


def checksums(dist: Path) -> Path:
    """SHA256SUMS of every file in dist/ (the provenance too), in `sha256sum -c`'s form; the signatures aside."""
    lines = [f"{sha256(path)}  {path.name}\n" for path in sorted(dist.iterdir())
             if path.is_file() and path.name != CHECKSUMS and not path.name.endswith(".sig")]
    (dist / CHECKSUMS).write_text("".join(lines))
    return dist / CHECKSUMS


def provenance(dist: Path, *, version: str, commit: str, builder: str, started: str) -> Path:
    """`provenance.intoto.json`: an in-toto Statement v1 whose subjects are dist/'s artefacts (name, sha256) and whose
    predicate is SLSA provenance v1: the build (this script, the version, the source's commit) and who ran it."""
    statement: dict[str, Any] = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": path.name, "digest": {"sha256": sha256(path)}} for path in artefacts(dist)],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {"version": version, "source": {"uri": SOURCE, "ref": f"refs/tags/v{version}"}},
                "internalParameters": {"python": sys.version.split()[0], "platform": sys.platform},
                "resolvedDependencies": [{"uri": f"git+{SOURCE}", "digest": {"gitCommit": commit or "unknown"}}],
            },
            "runDetails": {
                "builder": {"id": builder},
                "metadata": {"invocationId": f"release-{version}-{started}", "startedOn": started,
                             "finishedOn": now()},
            },
        },
    }
    (dist / PROVENANCE).write_text(json.dumps(statement, indent=2) + "\n")
    return dist / PROVENANCE


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign(path: Path, key: Path) -> Path:
    """`path`.sig: `ssh-keygen -Y sign -n file` with the release key (verified against deploy/release/allowed_signers:
    `ssh-keygen -Y verify -f allowed_signers -I IDENTITY -n file -s FILE.sig < FILE`)."""
    path.with_name(path.name + ".sig").unlink(missing_ok=True)
    run("ssh-keygen", "-q", "-Y", "sign", "-f", key, "-n", NAMESPACE, path)
    return path.with_name(path.name + ".sig")


def build(dist: Path, *, image: bool, image_base: str | None = None, signing_key: Path | None = None,
          builder: str = BUILDER) -> None:
    started = now()
    version = current_version()
    shutil.rmtree(dist, ignore_errors=True)
    dist.mkdir(parents=True)
    build_python(dist, version)
    with ThreadPoolExecutor(max_workers=2) as pool:  # both mostly wait: on tsc, and on pip's installs
        npm = pool.submit(npm_artefacts, dist, version)
        sbom_python(dist, version)
        npm.result()
    if image:
        base = ("--base", image_base) if image_base else ()
        run(sys.executable, ROOT / "scripts" / "build_image.py", "--out", dist, *base)
    else:
        print("image: skipped (--image builds it: scripts/build_image.py; CI builds it in its own step)")
    provenance(dist, version=version, commit=git_commit(), builder=builder, started=started)
    checksums(dist)
    if signing_key is not None:
        for signed in (CHECKSUMS, PROVENANCE):
            sign(dist / signed, signing_key)
    else:
        print(f"signatures: none (--signing-key signs {CHECKSUMS} and {PROVENANCE})")
    print(f"dist/ ({version}):")
    for path in sorted(dist.iterdir()):
        print(f"  {path.name}  {path.stat().st_size:,} bytes")


def cut(new: str, *, date: str, git: bool) -> None:
    """Bump, move the changelog, commit and tag (annotated, `v<new>`)."""
    old = current_version()
    semver(new)
    if VERSIONS.parts(new) <= VERSIONS.parts(old):
        raise ReleaseError(f"{new} is not after the current version {old}")
    if git and subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip():
        raise ReleaseError("the working tree has uncommitted changes: commit them first (or --no-git)")
    changed = bump(new)
    move_unreleased(new, date)
    print(f"{old} -> {new}: {', '.join([*changed, 'CHANGELOG.md'])}")
    if git:
        run("git", "add", *changed, "CHANGELOG.md")
        run("git", "commit", "-q", "-m", f"Release {new}")
        run("git", "tag", "-a", f"v{new}", "-m", f"Release {new}")


def begin_next(released: str, *, git: bool) -> str:
    """After the release `released`: the next development version everywhere (X.(Y+1).0.dev0), in a commit of its
    own ("Begin X.(Y+1).0.dev0")."""
    new = next_development(released)
    changed = bump(new)
    print(f"{released} -> {new} (development): {', '.join(changed)}")
    if git:
        run("git", "add", *changed)
        run("git", "commit", "-q", "-m", f"Begin {new} (after the release {released})")
    return new


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/release.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("version", nargs="?", help="the new version, MAJOR.MINOR.PATCH")
    parser.add_argument("--check", action="store_true", help="build dist/ at the current version, bump nothing")
    parser.add_argument("--image", action="store_true", help="build the image archive too (minutes)")
    parser.add_argument("--image-base", help="with --image: scripts/build_image.py's --base (its default otherwise)")
    parser.add_argument("--date", default=datetime.date.today().isoformat(), help="the release's date (today)")
    parser.add_argument("--no-git", dest="git", action="store_false", help="change the files only: no commit, no tag")
    parser.add_argument("--no-build", dest="build", action="store_false", help="cut only: build no dist/")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the artefacts go (dist/)")
    parser.add_argument("--signing-key", type=Path, metavar="PATH",
                        help=f"the release's SSH private key: {CHECKSUMS} and {PROVENANCE} signed with it (.sig)")
    parser.add_argument("--builder-id", default=BUILDER, help="who builds, in the provenance (builder.id, a URI)")
    args = parser.parse_args(argv)
    if args.check == bool(args.version):
        parser.error("give the new version, or --check (and no version)")
    if args.signing_key is not None and not args.signing_key.is_file():
        parser.error(f"--signing-key {args.signing_key}: no such file")
    try:
        if args.version:
            cut(args.version, date=args.date, git=args.git)
        if args.build:
            build(args.dist.resolve(), image=args.image, image_base=args.image_base, signing_key=args.signing_key,
                  builder=args.builder_id)
        if args.version and args.git:
            following = begin_next(args.version, git=True)
    except ReleaseError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 1
    if args.version and args.git:
        print(f"tagged v{args.version}, then began {following}: push both with"
              f" `git push origin HEAD v{args.version}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
