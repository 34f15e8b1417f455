# The importer in one small image: the worker is the entrypoint, and the starter
# sits beside it (`docker compose exec worker starter status <id>`).
# docker-compose.yml builds it; testsuite/deploy checks the rules noted below.

# The build image's Go is the version go.mod's go directive names (checked by
# testsuite/deploy), so a bump of one without the other fails the tests.
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
# CGO_ENABLED=0: static binaries, because the final image has no C library.
# GOTOOLCHAIN=local: build with this image's Go, never download another.
# -buildvcs=false: .git is not in the build context (.dockerignore).
ENV CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
# Modules in their own layer, so that a source change does not fetch them again.
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/bin/ ./worker ./starter \
    && mkdir -p /out/data

# No shell, no package manager; runs as the distroless "nonroot" user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/bin/worker /out/bin/starter /usr/local/bin/
# The data directory holds the embedded store (importer.db) when IMPORTER_STORE
# is not set, and the local artifact store: scratch with IMPORTER_STORE and S3
# set, as in docker-compose.yml (a tmpfs there). A mount here must be writable
# by uid 65532.
COPY --from=build --chown=65532:65532 /out/data /data
ENV IMPORTER_DATA_DIR=/data
VOLUME ["/data"]
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/worker"]
