# hopscope: one static, non-root image holding the hopscope binary (every
# component) and the slim hopscope-sidecar (the sidecar alone, which the
# chart's sidecar template runs in every pod: no Kubernetes client,
# collector or demo linked, so less memory per pod).
#
#   docker build --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t ghcr.io/hopscope/hopscope:0.1.0 .
#
# The image tag is the chart's appVersion, without the "v" of the VERSION
# the binary reports. The entrypoint is the binary itself; the subcommand is
# the first argument:
#   docker run ghcr.io/hopscope/hopscope:0.1.0 collector
# The sidecar alone (flags only, no subcommand):
#   docker run --entrypoint /hopscope-sidecar ghcr.io/hopscope/hopscope:0.1.0 --upstream http://127.0.0.1:8080

# Base images are pinned by digest (the tag is kept for the reader), so a
# rebuild gets the same bytes; update both with `crane digest IMAGE:TAG`.
# test/cluster builds the same image without a daemon and
# TestDaemonlessImageMatchesDockerfile keeps the two alike.
FROM golang:1.26-bookworm@sha256:a688600ca24f8a4d3ca77f95b0dd40704a9fc787c826660eb7ba0b641b8b175d AS build
WORKDIR /src

# Module downloads in their own layer, rebuilt only when go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
# Declared after the download so a new VERSION does not invalidate that layer.
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/hopscope/hopscope/internal/version.Version=${VERSION}" \
      -o /out/ ./cmd/hopscope ./cmd/hopscope-sidecar

# distroless static: CA certificates, tzdata, /etc/passwd with nonroot (65532),
# no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="hopscope" \
      org.opencontainers.image.description="eBPF-free per-hop latency for Kubernetes: sidecar, collector and sidecar injector in one binary, and the sidecar alone in a slim one" \
      org.opencontainers.image.source="https://github.com/hopscope/hopscope" \
      org.opencontainers.image.url="https://github.com/hopscope/hopscope" \
      org.opencontainers.image.documentation="https://github.com/hopscope/hopscope#readme" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=build /out/hopscope /out/hopscope-sidecar /
USER 65532:65532
# sidecar inbound, sidecar admin; collector OTLP gRPC, OTLP HTTP, Fluent forward,
# internal API/UI/metrics, public RUM endpoint; injector webhook (HTTPS) and
# its admin port.
EXPOSE 15080 15090 4317 4318 24224 8088 8089 8443 9090
ENTRYPOINT ["/hopscope"]
