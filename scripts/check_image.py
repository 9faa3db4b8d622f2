"""Run the image `scripts/build_image.py` built, as an operator would, offline: its `--version`, then a worker from it
against a real Redis and the local Slack, on a read-only root filesystem as user 10001, answering `/readyz`.

    python scripts/check_image.py [--image localhost/agent-approvals:VERSION]

1. `buildah run` (chroot isolation) `python -m bot --version`: it says the project's version; the extras import
   (teams: the Teams SDK; otel: OpenTelemetry's SDK and OTLP/HTTP exporter, docs/operators/tracing.md).
2. The image's root filesystem (`buildah mount`) bind-mounted read-only in a mount namespace of its own (`unshare
   --mount`), a tmpfs on /tmp, and `python -m bot` run in it by `chroot --userspec=10001:10001` with the image's
   environment, as a Kubernetes pod of deploy/kubernetes/ runs it (`readOnlyRootFilesystem`, `runAsUser`). It
   shares this host's network: Redis (a redis-server started here) and the local Slack (`python -m bot devslack`
   from this checkout) are on loopback. `/readyz` must answer 200 `ready` within 60 s, `/livez` 200; then SIGTERM
   stops it within 30 s.

Exits 0 when all held, 1 naming what did not. Needs root (buildah with the vfs driver, mount namespaces, chroot).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILDAH = ("buildah", "--storage-driver", "vfs")
USER = "10001:10001"


def version() -> str:
    found = re.search(r'^__version__ = "([^"]+)"$', (ROOT / "bot/core/version.py").read_text(), flags=re.MULTILINE)
    assert found
    return found.group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def buildah(*args: str) -> str:
    done = subprocess.run([*BUILDAH, *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "BUILDAH_ISOLATION": "chroot"})
    if done.returncode != 0:
        sys.exit(f"error: buildah {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


@contextlib.contextmanager
def started(command: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=env)
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read() or b"{}")


def wait_until(what: str, check: Callable[[], object], within: float) -> object:
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.5)
    sys.exit(f"error: {what} within {within:.0f} s (last: {last})")


def check_version(container: str) -> None:
    said = subprocess.run([*BUILDAH, "run", "--isolation", "chroot", "--user", USER, container, "--",
                           "python", "-m", "bot", "--version"], capture_output=True, text=True, check=False)
    if said.returncode != 0 or version() not in said.stdout:
        sys.exit(f"error: `python -m bot --version` in the image said {said.stdout!r} {said.stderr!r}"
                 f" (exit {said.returncode}), not {version()}")
    print(f"ok: --version in the image: {said.stdout.strip()}")
    teams = subprocess.run([*BUILDAH, "run", "--isolation", "chroot", "--user", USER, container, "--", "python", "-c",
                            "import microsoft_teams.apps, microsoft_teams.cards, bot.core.msteams"],
                           capture_output=True, text=True, check=False)
    if teams.returncode != 0:
        sys.exit(f"error: the image cannot serve Teams (the teams extra): {teams.stderr.strip()}")
    print("ok: the teams extra in the image (microsoft-teams-apps, microsoft-teams-cards)")
    otel = subprocess.run([*BUILDAH, "run", "--isolation", "chroot", "--user", USER, container, "--", "python", "-c",
                           "import opentelemetry.sdk.trace.export, opentelemetry.sdk.resources,"
                           " opentelemetry.trace.propagation.tracecontext,"
                           " opentelemetry.exporter.otlp.proto.http.trace_exporter"],
                          capture_output=True, text=True, check=False)
    if otel.returncode != 0:
        sys.exit(f"error: the image cannot send traces (the otel extra, docs/operators/tracing.md): "
                 f"{otel.stderr.strip()}")
    print("ok: the otel extra in the image (opentelemetry-sdk, the OTLP/HTTP exporter)")


def image_env(image: str) -> dict[str, str]:
    config = json.loads(buildah("inspect", "--type", "image", image))
    pairs = config.get("Docker", {}).get("config", {}).get("Env") or config["OCIv1"]["config"].get("Env") or []
    return dict(pair.split("=", 1) for pair in pairs)


def check_worker(container: str, image: str, work: Path) -> None:
    rootfs = buildah("mount", container).strip()
    redis_port, slack_port, bot_port = free_port(), free_port(), free_port()
    (work / "token").write_text("xoxb-image-check-0000\n")
    (work / "secret").write_text("image-check-signing-secret\n")
    redis = ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no", "--dir", str(work)]
    slack = [sys.executable, "-m", "bot", "devslack", "--port", str(slack_port), "--events-url",
             f"http://127.0.0.1:{bot_port}/slack/events", "--bot-token-file", str(work / "token"),
             "--signing-secret-file", str(work / "secret")]
    env = {**image_env(image), "SLACK_BOT_TOKEN": "xoxb-image-check-0000", "PORT": str(bot_port),
           "SLACK_SIGNING_SECRET": "image-check-signing-secret",
           "SLACK_API_URL": f"http://127.0.0.1:{slack_port}/api/",
           "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "APPROVALS_CHANNEL": "C0APPROVALS", "HOME": "/tmp"}
    inside = (f"mount --bind {rootfs} {rootfs} && mount -o remount,bind,ro {rootfs}"
              f" && mount -t tmpfs tmpfs {rootfs}/tmp && mount -t proc proc {rootfs}/proc"
              f" && mount --rbind /dev {rootfs}/dev && exec chroot --userspec={USER} {rootfs} python -m bot")
    worker = ["unshare", "--mount", "--propagation", "private", "sh", "-c", inside]
    with started(redis, work / "redis.log"), started(slack, work / "devslack.log",
                                                           env={**os.environ, "PYTHONPATH": str(ROOT)}):
        with started(worker, work / "worker.log", env=env) as process:
            url, began = f"http://127.0.0.1:{bot_port}", time.monotonic()

            def ready() -> dict[str, object] | None:
                status, body = get(url + "/readyz")
                return body if status == 200 and body.get("status") == "ready" else None

            answered = wait_until("/readyz did not answer 200 ready", ready, 60)
            print(f"ok: /readyz 200 after {time.monotonic() - began:.1f} s: {json.dumps(answered)}")
            live, body = get(url + "/livez")
            if live != 200:
                sys.exit(f"error: /livez answered {live} {body}")
            print(f"ok: /livez {live}; the root filesystem read-only, user {USER}")
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                sys.exit("error: the worker in the image did not stop within 30 s of SIGTERM")
            print(f"ok: SIGTERM: stopped (exit {process.returncode})")
    buildah("umount", container)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default=f"localhost/agent-approvals:{version()}")
    args = parser.parse_args()
    container = buildah("from", "--pull=never", args.image).strip()
    try:
        with tempfile.TemporaryDirectory(prefix="image-check-") as work:
            try:
                check_worker(container, args.image, Path(work))
            except SystemExit:
                for log in ("worker.log", "devslack.log"):
                    print(f"--- {log}\n{(Path(work) / log).read_text(errors='replace')[-4000:]}", file=sys.stderr)
                raise
        check_version(container)
    finally:
        subprocess.run([*BUILDAH, "rm", container], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
