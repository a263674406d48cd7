# keyleak: one binary on a distroless base, run as a numeric non-root user.
# Build: docker build -t keyleak .
FROM rust:1.95-bookworm AS build
WORKDIR /src
# Everything Cargo.toml names must be present, benches included, or cargo refuses the
# manifest; the fonts are compiled into the binary (the report's chart).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY migrations ./migrations
COPY assets ./assets
# The sandbox plays AWS's published examples, compiled in.
COPY tests/fixtures ./tests/fixtures
RUN cargo build --release --locked --bin keyleak \
    && mkdir -p /data \
    && cp target/release/keyleak /keyleak

# Debian 12's distroless base with CA certificates and glibc, and nothing else: no shell, no
# package manager. 65532 is its "nonroot" user, given by number so that Kubernetes'
# runAsNonRoot can verify it.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /keyleak /usr/local/bin/keyleak
COPY --from=build --chown=65532:65532 /data /var/lib/keyleak
USER 65532:65532
WORKDIR /var/lib/keyleak
ENV KEYLEAK_LISTEN=0.0.0.0:3000 KEYLEAK_DATABASE_URL=sqlite:///var/lib/keyleak/keyleak.db
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/keyleak"]
CMD ["serve"]
