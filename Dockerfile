# syntax=docker/dockerfile:1
#
# One image, four binaries: /ingest (the default entrypoint), /worker, /scheduler and
# /agentic (the CLI); the "backup" target adds pg_dump and pg_restore for the backup worker. Each workload picks its binary with its `command` (Kubernetes) or
# `entrypoint` (compose).
#
#   docker build -t agentic:dev .
#   docker build -t agentic:dev --build-arg VERSION=$(git describe --tags --always) .
#   docker build --target debug -t agentic:debug .   # same binaries plus a busybox shell
#
# The build stage runs on the builder's own platform and cross-compiles (pure Go, no cgo), so
# `docker buildx build --platform linux/amd64,linux/arm64` needs no emulation.
# go.mod asks for go >= 1.26.8: golang:1.26 is the newest 1.26 patch release, which is enough.

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    set -e; \
    for c in ingest worker scheduler agentic; do \
      GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
        -ldflags "-s -w -X github.com/agentic-run/agentic/cmd/internal/platform.Version=${VERSION}" \
        -o /out/$c ./cmd/$c; \
    done

# debug: the same binaries on distroless's debug image (busybox at /busybox, still non-root).
# deploy/compose.yaml uses it because its healthchecks need a wget inside the container;
# production uses the final stage below, which has no shell at all.
FROM gcr.io/distroless/static-debian12:debug-nonroot AS debug
COPY --from=build /out/ /
USER nonroot:nonroot
EXPOSE 8080 9090
ENTRYPOINT ["/ingest"]

# backup: the worker that takes the scheduled backups (deploy/k8s/backup.yaml) runs pg_dump and
# pg_restore, which distroless has not. Debian's client is PostgreSQL 15: pg_dump must be at
# least the server's major version, so for a newer server install postgresql-client-NN from
# apt.postgresql.org instead.
#   docker build --target backup -t agentic-backup:dev .
FROM debian:bookworm-slim AS backup
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir /backups && chown 65532:65532 /backups
COPY --from=build /out/ /
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/worker"]

# The production image (the default target: it is the last stage). UID/GID 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /
USER nonroot:nonroot
EXPOSE 8080 9090
ENTRYPOINT ["/ingest"]
