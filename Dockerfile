# syntax=docker/dockerfile:1
# The canonical image build with a container engine:
#   docker buildx build --build-arg VERSION="$(scripts/version)" --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -t <registry>/route53-failover-operator:"$(scripts/version)" .
# VERSION must be the crate version in Cargo.toml (the one version source): the build fails otherwise.
# scripts/build-image assembles the same image without a container engine, with the same labels; the
# release workflow (.github/workflows/release.yaml) uses that one, through scripts/release/image.
ARG VERSION
ARG REVISION=unknown
ARG CREATED=unknown
#
# Stage 1 builds a static-pie binary: glibc with crt-static, because only the gnu target is available
# (no musl toolchain needed). It resolves names through /etc/resolv.conf and needs no libraries.
FROM rust:1.95-slim-bookworm AS builder
ARG TARGET=x86_64-unknown-linux-gnu
ARG VERSION
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
RUN grep -qx "version = \"${VERSION}\"" Cargo.toml \
    || { echo "--build-arg VERSION must be the crate version in Cargo.toml (scripts/version)" >&2; exit 1; }
COPY src ./src
ENV RUSTFLAGS="-C target-feature=+crt-static"
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --target "${TARGET}" --bin route53-failover-operator \
    && cp "target/${TARGET}/release/route53-failover-operator" /route53-failover-operator

# Stage 2: distroless static (CA certificates, /etc/passwd with nonroot = 65532, no shell).
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION
ARG REVISION
ARG CREATED
LABEL org.opencontainers.image.title="route53-failover-operator" \
      org.opencontainers.image.description="Kubernetes operator reconciling FailoverRecords into Route 53 health checks and failover record sets" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/example/route53-failover-operator"
COPY --from=builder /route53-failover-operator /route53-failover-operator
# glibc's malloc (linked statically) with at most two arenas: the default of eight per core keeps
# freed memory in each worker thread's arena; at 10,000 FailoverRecords two arenas held 159 MiB
# RSS after the steady state instead of 179 MiB (README "Benchmarks"). Set it higher in the pod's
# env to trade memory for less allocator contention.
ENV MALLOC_ARENA_MAX=2
USER 65532:65532
# Admin server: /livez, /readyz, /metrics.
EXPOSE 8080
ENTRYPOINT ["/route53-failover-operator"]
CMD ["run"]
