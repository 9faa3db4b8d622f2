"""Build the worker's image from the Dockerfile with buildah, offline, and write it to the output folder.

    python scripts/build_image.py --out dist/                          # base: the Dockerfile's (pinned, pulled)
    python scripts/build_image.py --out dist/ --base IMAGE              # another base image, already present
    python scripts/build_image.py --out dist/ --base ROOTFS_DIR         # a root filesystem (e.g. debootstrap's)
    python scripts/build_image.py --out dist/ --debootstrap DIR         # make DIR with debootstrap when missing, use it
    python scripts/build_image.py --out dist/ --wheels DIR              # the wheels to install (default: dist's)
    python scripts/build_image.py --out dist/ --context-only            # only the build context, for `docker build`

1. The wheels: `slack_agent_approvals-*.whl` and `agent_approvals-*.whl` from `--wheels` or `--out`, built with
   `python -m build --wheel` when there are none; then every dependency's wheel beside them (`pip wheel`, this host's
   index), so that nothing is fetched inside the build.
2. The context: the Dockerfile and `wheels/`, in a folder of its own (kept as `OUT/image-context/` with
   `--context-only`; otherwise removed after the build, so that OUT holds only artefacts).
3. The base: the Dockerfile's own (`BASE_IMAGE`'s default: python 3.11 slim on bookworm, pinned by digest) unless
   given; an image reference is used as it is; a directory is a root filesystem with Python 3.11 as `python3`
   (Debian bookworm's `python3`, `python3-venv`), imported as `localhost/debian-python:bookworm` (`buildah from
   scratch`, the tree copied in, committed).
4. `buildah bud` (chroot isolation, the vfs storage driver: no daemon, no user namespace, no overlay mount needed;
   Docker's format, which keeps the HEALTHCHECK), tagged `localhost/agent-approvals:VERSION`, then written to
   `OUT/agent-approvals-VERSION.image.tar` (`docker-archive`: `docker load -i`, `podman load -i`).

Each step says how long it took; the image's size is printed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "localhost/agent-approvals"
ROOTFS_IMAGE = "localhost/debian-python:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_PACKAGES = "python3,python3-venv,ca-certificates"
BUILDAH = ("buildah", "--storage-driver", "vfs")
# what a dependency needs only on an older 3.11 than this host's (redis below 3.11.3: Debian bookworm has 3.11.2),
# which `pip wheel` on a newer host leaves out
OLDER_PYTHON_NEEDS = ("async-timeout>=4.0.3",)
EXTRAS = "[teams,otel]"  # Microsoft Teams, and traces over OTLP (the Dockerfile installs the same extras)


def version() -> str:
    """The project's one version (bot/core/version.py), read without importing the bot."""
    found = re.search(r'^__version__ = "([^"]+)"$', (ROOT / "bot/core/version.py").read_text(), flags=re.MULTILINE)
    assert found, "bot/core/version.py names no __version__"
    return found.group(1)


def run(*command: str | Path, env: dict[str, str] | None = None) -> str:
    """Run a command, its output shown; its standard output returned. Exits naming the command when it fails."""
    shown = " ".join(str(part) for part in command)
    print(f"$ {shown}", flush=True)
    done = subprocess.run([str(part) for part in command], stdout=subprocess.PIPE, text=True, check=False,
                          env={**os.environ, "BUILDAH_ISOLATION": "chroot", **(env or {})})
    if done.returncode != 0:
        sys.exit(f"error: `{shown}` failed (exit {done.returncode})")
    return done.stdout


def step(what: str, started: float) -> None:
    print(f"== {what}: {time.monotonic() - started:.1f} s", flush=True)


def wheels(out: Path, given: Path | None) -> list[Path]:
    """The two projects' wheels: from `given` or `out`, else built into `out`."""
    folder = given or out
    found = sorted(folder.glob("slack_agent_approvals-*.whl")) + sorted(folder.glob("agent_approvals-*.whl"))
    if len(found) < 2:
        if given is not None:
            sys.exit(f"error: {given} holds no slack_agent_approvals and agent_approvals wheels")
        started = time.monotonic()
        run(sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT / "agents")
        run(sys.executable, "-m", "build", "--wheel", "--outdir", out, ROOT)
        step("wheels built", started)
        return wheels(out, None)
    return found


def context(where: Path, own: Sequence[Path]) -> Path:
    """`where`: the Dockerfile and every wheel the image installs (dependencies gathered here)."""
    started = time.monotonic()
    shutil.rmtree(where, ignore_errors=True)
    (where / "wheels").mkdir(parents=True)
    shutil.copy(ROOT / "Dockerfile", where / "Dockerfile")
    for wheel in own:
        shutil.copy(wheel, where / "wheels" / wheel.name)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", where / "wheels", "--find-links",
        where / "wheels", *[f"{where / 'wheels' / wheel.name}{EXTRAS if wheel.name.startswith('slack_') else ''}"
                            for wheel in own], *OLDER_PYTHON_NEEDS)
    step("dependencies gathered", started)
    return where


def debootstrap(rootfs: Path) -> Path:
    """A minimal Debian bookworm with Python 3.11 in `rootfs`, made when missing (cached between runs)."""
    if (rootfs / "usr/bin/python3").exists():
        print(f"== base root filesystem: {rootfs} (kept from an earlier run)", flush=True)
        return rootfs
    started = time.monotonic()
    partial = rootfs.with_name(rootfs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    run("debootstrap", "--variant=minbase", f"--include={DEBOOTSTRAP_PACKAGES}", "bookworm", partial, DEBIAN_MIRROR)
    run("chroot", partial, "apt-get", "clean")
    partial.rename(rootfs)
    step("debootstrap", started)
    return rootfs


def import_rootfs(rootfs: Path) -> str:
    """The root filesystem as the local image ROOTFS_IMAGE (rebuilt each run: a copy takes seconds)."""
    started = time.monotonic()
    container = run(*BUILDAH, "from", "--name", f"rootfs-{os.getpid()}", "scratch").strip()
    try:
        mount = Path(run(*BUILDAH, "mount", container).strip())
        run("cp", "-a", f"{rootfs}/.", mount)
        run(*BUILDAH, "umount", container)
        run(*BUILDAH, "config", "--env", "LANG=C.UTF-8", "--cmd", "python3", container)
        run(*BUILDAH, "commit", "--quiet", "--rm", container, ROOTFS_IMAGE)
    except SystemExit:
        subprocess.run([*BUILDAH, "rm", container], check=False, capture_output=True)
        raise
    step(f"base imported as {ROOTFS_IMAGE}", started)
    return ROOTFS_IMAGE


def base_args(base: str | None) -> list[str]:
    """`buildah bud`'s options for the base: the Dockerfile's pinned default when None (pulled only when missing),
    else BASE_IMAGE given (a local image, `localhost/...`, is never pulled)."""
    if base is None:
        return ["--pull=false"]
    return ["--pull=never" if base.startswith("localhost/") else "--pull=false", "--build-arg", f"BASE_IMAGE={base}"]


def build(where: Path, base: str | None, tag: str) -> None:
    started = time.monotonic()
    run(*BUILDAH, "bud", "--isolation", "chroot", "--format", "docker", *base_args(base), "--tag", tag, "--file",
        where / "Dockerfile", where)
    step(f"image built from {base or 'the Dockerfile base'}", started)


def save(tag: str, out: Path) -> Path:
    started = time.monotonic()
    archive = out / f"agent-approvals-{version()}.image.tar"
    archive.unlink(missing_ok=True)
    run(*BUILDAH, "push", "--quiet", tag, f"docker-archive:{archive}:{tag}")
    listed = run(*BUILDAH, "images", "--format", "{{.Size}}", tag).strip()
    step(f"image {tag} ({listed}) written to {archive} ({archive.stat().st_size / 2**20:.0f} MiB)", started)
    return archive


def built(out: Path, args: argparse.Namespace, where: Path, started: float) -> int:
    base = args.base
    if args.debootstrap:
        base = import_rootfs(debootstrap(args.debootstrap.resolve()))
    elif base is not None and Path(base).is_dir():
        base = import_rootfs(Path(base).resolve())
    tag = f"{IMAGE}:{version()}"
    build(where, base, tag)
    save(tag, out)
    step("all", started)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the folder the image (and wheels) are written to")
    parser.add_argument("--base", help="a base image, or a directory holding a root filesystem with Python 3.11")
    parser.add_argument("--debootstrap", type=Path, metavar="DIR",
                        help="the base: a Debian bookworm root filesystem in DIR, made with debootstrap when missing")
    parser.add_argument("--wheels", type=Path, help="a folder with the two projects' wheels (default: --out's)")
    parser.add_argument("--context-only", action="store_true", help="only write OUT/image-context, build nothing")
    args = parser.parse_args(argv)
    if args.base and args.debootstrap:
        parser.error("give --base or --debootstrap, not both")
    started = time.monotonic()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    if args.context_only:
        where = context(out / "image-context", wheels(out, args.wheels))
        print(f"the build context: {where} (docker build -t agent-approvals {where})")
        return 0
    if shutil.which("buildah") is None:
        sys.exit("error: buildah is not installed (Debian: apt-get install buildah)")
    with tempfile.TemporaryDirectory(prefix="image-context-") as folder:
        return built(out, args, context(Path(folder), wheels(out, args.wheels)), started)


if __name__ == "__main__":
    sys.exit(main())
