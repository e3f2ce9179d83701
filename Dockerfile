# syntax=docker/dockerfile:1
# The DataMover operator image: the image deploy/manager/deployment.yaml runs, named and
# tagged as deploy/kustomization.yaml sets it. Build it from the workspace root with:
#
#   docker build -t datamover-operator:latest .
#
# How to load it into a cluster or push it: crates/datamover-kube/INSTALL.md. No Docker
# daemon runs in this project's tests or CI: crates/datamover-operator/tests/image.rs checks
# this file against deploy/ and the binary instead, and tests/ship.rs checks the build
# image's Rust against the workspace's rust-version.
#
# The Kubernetes backend needs no rclone here: the sync Jobs run the rclone image
# (ghcr.io/qjoly/datamover-rclone, or a DataMover's spec.image).

# --- build: a release binary, with the dependency versions of Cargo.lock, on the Rust of
# the workspace's rust-version (the highest any locked dependency needs) ---
FROM docker.io/library/rust:1.90-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p datamover-operator --bin datamover-operator \
 && install -D -m 0755 target/release/datamover-operator /out/datamover-operator

# --- runtime: glibc and libgcc only (rustls: no OpenSSL), no shell, no package manager ---
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/datamover-operator /usr/local/bin/datamover-operator
# The distroless `nonroot` user, as the Deployment's runAsUser/runAsGroup: 65532. Nothing is
# written to the filesystem, so the Deployment mounts the root read-only.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/datamover-operator"]
CMD ["run", "--backend=kubernetes"]
