# syntax=docker/dockerfile:1
# The canonical image build for registries: `docker buildx build -t <registry>/route53-failover-operator:<tag> .`
# (scripts/build-image assembles the same image without a container engine, for local checks and CI).
#
# Stage 1 builds a static-pie binary: glibc with crt-static, because only the gnu target is available
# (no musl toolchain needed). It resolves names through /etc/resolv.conf and needs no libraries.
FROM rust:1.95-slim-bookworm AS builder
ARG TARGET=x86_64-unknown-linux-gnu
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
ENV RUSTFLAGS="-C target-feature=+crt-static"
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --target "${TARGET}" --bin route53-failover-operator \
    && cp "target/${TARGET}/release/route53-failover-operator" /route53-failover-operator

# Stage 2: distroless static (CA certificates, /etc/passwd with nonroot = 65532, no shell).
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="route53-failover-operator" \
      org.opencontainers.image.description="Kubernetes operator reconciling FailoverRecords into Route 53 health checks and failover record sets" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/example/route53-failover-operator"
COPY --from=builder /route53-failover-operator /route53-failover-operator
USER 65532:65532
# Admin server: /livez, /readyz, /metrics.
EXPOSE 8080
ENTRYPOINT ["/route53-failover-operator"]
CMD ["run"]
