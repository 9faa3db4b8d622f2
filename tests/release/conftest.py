"""`dist/` as the release script builds it (`python scripts/release.py --check --signing-key KEY`), once per test
run: from a copy of the work tree (a git repository of its own, so the wheel and the provenance record its commit),
never in the work tree itself, where `npm pack` and `python -m build` would rebuild what other tests are using. It is
signed with a throwaway key made here (`ssh-keygen`), whose public half is in an `allowed_signers` of the form
deploy/release/allowed_signers publishes: the project's own key is not the tests' to use."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.source import ROOT

NODE_MODULES = ("agents/typescript/node_modules", "tests/agents/typescript/project/node_modules")
SBOM_TOOL = "scripts/sbom/node_modules"  # the npm SBOM's tool: linked when installed here, else the script installs it
SIGNER = "releases@agent-approvals"  # the identity the verify command names (docs/contributors/releasing.md)


def copy_of_the_work_tree(where: Path) -> Path:
    """The files git would commit (tracked and new, not ignored), in a new repository, with the two npm installs of
    the work tree linked in (the package's own, and the suite's project with the frameworks; the SBOM's tool, when
    the work tree has it)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (where / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, where / name)
    for folder in NODE_MODULES + ((SBOM_TOOL,) if (ROOT / SBOM_TOOL).is_dir() else ()):
        (where / folder).symlink_to(ROOT / folder, target_is_directory=True)
    git = ("git", "-c", "user.name=release test", "-c", "user.email=release@example.com")
    for command in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "the work tree")):
        subprocess.run([*git, *command], cwd=where, check=True, capture_output=True)
    return where


@pytest.fixture(scope="session")
def released(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> tuple[Path, Path]:
    """(the copy, its dist/): built by the first xdist worker to ask, the others wait for it."""
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    source, dist = shared / "release-source", shared / "release-dist"
    with (shared / "release.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dist / "SHA256SUMS").exists():
            shutil.rmtree(source, ignore_errors=True)
            source.mkdir()
            copy_of_the_work_tree(source)
            env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            key = release_key(shared / "release-key")
            built = subprocess.run([sys.executable, "scripts/release.py", "--check", "--dist", str(dist),
                                    "--signing-key", str(key)], cwd=source, env=env, capture_output=True, text=True,
                                   timeout=900, check=False)
            assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return source, dist


def release_key(where: Path) -> Path:
    """A throwaway ed25519 key in `where`, and `where`/allowed_signers naming its public half as SIGNER's."""
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", SIGNER, "-f", str(where / "key")],
                   check=True, capture_output=True)
    public = (where / "key.pub").read_text().split()
    (where / "allowed_signers").write_text(f'{SIGNER} namespaces="file" {public[0]} {public[1]}\n')
    return where / "key"


@pytest.fixture(scope="session")
def allowed_signers(released: tuple[Path, Path]) -> Path:
    """The allowed_signers that names the key `released` was signed with."""
    return released[1].parent / "release-key" / "allowed_signers"
