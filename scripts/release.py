"""Cut a release, or build one's artefacts (docs/contributors/releasing.md).

    python scripts/release.py 0.8.0          # bump the version everywhere, move CHANGELOG.md's Unreleased under
                                             # "0.8.0 - today", commit, tag v0.8.0, then build dist/
    python scripts/release.py --check        # build dist/ at the version the files say, nothing bumped (CI)
    ... --image                              # and the image archive (scripts/build_image.py, minutes)

dist/ then holds: the wheel and sdist of `slack-agent-approvals` (the root pyproject.toml) and of `agent-approvals`
(agents/), the npm tarball of `agent-approvals` (agents/typescript, every adapter built at pack time), a CycloneDX
SBOM of each of the three, the image archive with --image, and SHA256SUMS of all of them (`sha256sum -c SHA256SUMS`).
The version lives in the files (`bot/core/version.py` and the five others tests/test_version.py checks), never in a
tag: a clone without tags says the same. Needs `pip install -e ".[release]"` and npm."""

from __future__ import annotations

import argparse
import datetime
import hashlib
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

ROOT = Path(__file__).resolve().parents[1]
NPM = ROOT / "agents" / "typescript"
SUITE = ROOT / "tests" / "agents" / "typescript" / "project"
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
# where the version is written: file -> the pattern whose group 2 is it (tests/test_version.py checks they agree)
VERSIONED = {
    "bot/core/version.py": r'^(__version__ = ")([^"]+)(")$',
    "agents/agent_approvals/wire.py": r'^(VERSION = ")([^"]+)(")',
    "agents/typescript/src/wire.ts": r'^(export const VERSION = ")([^"]+)(";)$',
    "pyproject.toml": r'^(version = ")([^"]+)(")$',
    "agents/pyproject.toml": r'^(version = ")([^"]+)(")$',
    "deploy/kubernetes/kustomization.yaml": r'^(    newTag: ")([^"]+)(")',  # the image the manifests run
}
NPM_JSON = ("agents/typescript/package.json", "agents/typescript/package-lock.json",
            "tests/agents/typescript/project/package-lock.json")
ADAPTERS = ("ai-sdk", "mastra", "openai-agents", "langgraph")
UNRELEASED = "## [Unreleased]"


class ReleaseError(Exception):
    """What stops a release, said in one line."""


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


def bump(new: str, *, root: Path = ROOT) -> list[str]:
    """Write `new` wherever the version is: the files of VERSIONED (each exactly once) and the npm manifests (the
    package's own entry). Returns the files changed."""
    changed = []
    for name, pattern in VERSIONED.items():
        path = root / name
        text, count = re.subn(pattern, lambda m: m.group(1) + new + m.group(3), path.read_text(), count=1, flags=re.M)
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
            data["version"] = new
        for entry in data.get("packages", {}).values():  # a lock's entries: the package itself, or linked (file:)
            if entry.get("name") == "agent-approvals" and "version" in entry:
                entry["version"] = new
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
    if tarball.name != f"agent-approvals-{version}.tgz":
        raise ReleaseError(f"npm pack made {tarball.name}, not agent-approvals-{version}.tgz")
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
    """A CycloneDX SBOM of the npm package: what installs with it (its dependencies; no devDependencies)."""
    run(NPM / "node_modules/.bin/cyclonedx-npm", "--omit", "dev", "--output-reproducible", "--output-file",
        dist / f"agent-approvals-{version}.npm.cdx.json", cwd=NPM)


def npm_artefacts(dist: Path, version: str) -> None:
    build_npm(dist, version)
    sbom_npm(dist, version)


def checksums(dist: Path) -> Path:
    """SHA256SUMS of every artefact in dist/, in `sha256sum -c`'s form."""
    lines = [f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}\n"
             for path in sorted(dist.iterdir()) if path.is_file() and path.name != "SHA256SUMS"]
    (dist / "SHA256SUMS").write_text("".join(lines))
    return dist / "SHA256SUMS"


def build(dist: Path, *, image: bool, image_base: str | None = None) -> None:
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
    checksums(dist)
    print(f"dist/ ({version}):")
    for path in sorted(dist.iterdir()):
        print(f"  {path.name}  {path.stat().st_size:,} bytes")


def cut(new: str, *, date: str, git: bool) -> None:
    """Bump, move the changelog, commit and tag (annotated, `v<new>`)."""
    old = current_version()
    if semver(new) <= semver(old):
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
    args = parser.parse_args(argv)
    if args.check == bool(args.version):
        parser.error("give the new version, or --check (and no version)")
    try:
        if args.version:
            cut(args.version, date=args.date, git=args.git)
        if args.build:
            build(args.dist.resolve(), image=args.image, image_base=args.image_base)
    except ReleaseError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 1
    if args.version and args.git:
        print(f"tagged v{args.version}: push it with `git push origin HEAD v{args.version}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
