# syntax=docker/dockerfile:1
# mqcheck in a container: a static binary on a distroless base, run as a
# non-root user. Build with `docker build -t mqcheck .` (or podman build);
# --build-arg VERSION=v1.2.3 names the version `mqcheck version` prints.
#
#   docker run --rm mqcheck run memory-quickstart
#   docker run --rm -v "$PWD/runs:/runs" --user "$(id -u)" mqcheck run quickstart --out /runs/quickstart
#
# The embedded brokers (kafka, memory) and url targets work in the image;
# target: exec needs the broker's server installed, which this image has not.

# Build on the builder's own platform and cross-compile: no emulation for
# multi-arch images.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
# CGO_ENABLED=0: a static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/mqcheck ./cmd/mqcheck

# distroless/static: CA certificates (amqps://, Kafka TLS), tzdata, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mqcheck /usr/local/bin/mqcheck
# nonroot (65532); its home is writable, and run directories go there by
# default (runs/NAME-TIMESTAMP).
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/mqcheck"]
CMD ["--help"]
