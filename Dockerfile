# The worker's image (docs/operators/kubernetes.md#the-image). Its context is a folder with `wheels/`: the bot's and
# the agent package's wheels and every dependency's, which `python scripts/build_image.py --out dist/` gathers (and
# builds, with `buildah`, offline: no index is asked inside the build). With Docker:
#   python scripts/build_image.py --out dist/ --context-only && docker build -t agent-approvals dist/image-context
# The base is any image with Python 3.11 as `python3` and its venv module: by default the official slim image on
# Debian bookworm, pinned by the digest of its multi-architecture index (what a tag pointed to once: a tag moves, a
# digest does not; docs/operators/kubernetes.md#the-image says how to move it to a newer one), or a Debian bookworm
# made with debootstrap (`--build-arg BASE_IMAGE=localhost/debian-python:bookworm`: CI's, offline).
ARG BASE_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

FROM ${BASE_IMAGE} AS build
COPY wheels/ /wheels/
# the venv's python points at the base's python3 (/usr/local/bin in the official image, /usr/bin in Debian's): the
# final stage has the same base, so it points at the same file there. Extras: teams (Microsoft Teams), otel (traces
# to OTEL_EXPORTER_OTLP_ENDPOINT: docs/operators/tracing.md)
RUN python3 -m venv /opt/app \
 && /opt/app/bin/pip install --no-index --find-links /wheels --no-cache-dir --no-compile \
      'slack-agent-approvals[teams,otel]' \
 && /opt/app/bin/pip uninstall --yes --quiet pip \
 && /opt/app/bin/python -m compileall -q -j 0 /opt/app/lib

FROM ${BASE_IMAGE}
# a user of its own, no home, no shell: runAsUser 10001 in deploy/kubernetes/deployment.yaml
RUN groupadd --gid 10001 bot \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin bot
COPY --from=build /opt/app /opt/app
# nothing is written under /opt/app (bytecode compiled above), so the root filesystem may be read-only; /tmp is the
# only place the worker writes (an emptyDir in Kubernetes)
ENV PATH=/opt/app/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000
USER 10001:10001
WORKDIR /tmp
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('PORT', '3000'), timeout=2)"]
ENTRYPOINT ["python", "-m", "bot"]
