# weightwarden in a container: scan and verify models without installing Python packages on the host.
#   docker build -t weightwarden .
#   docker run --rm -v "$PWD/model:/models:ro" weightwarden scan /models
#   docker run --rm -v "$PWD/model:/models:ro" -v "$PWD/keys:/keys:ro" weightwarden \
#       verify /models --bundle /models/model.sig --key /keys/publisher.pub.pem
# Slim (no compilers, no eval backends: the [sign] extra only), runs as an unprivileged user, and never
# needs the network at run time.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY weightwarden ./weightwarden
# The project itself, from this source tree (its dependencies are bounded in pyproject.toml): DL3013's
# "pin versions" does not apply to a local path.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --prefix=/install ".[sign]"

FROM python:3.11-slim
LABEL org.opencontainers.image.title="weightwarden" \
      org.opencontainers.image.description="Scan, sign and verify open-weight AI models without executing them" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /install /usr/local
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin warden
USER 10001
WORKDIR /models
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["weightwarden"]
CMD ["--help"]
