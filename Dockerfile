# keyleak: one static-ish binary on a slim base. Build: docker build -t keyleak .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --bin keyleak

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/keyleak keyleak \
    && mkdir -p /var/lib/keyleak && chown keyleak /var/lib/keyleak
COPY --from=build /src/target/release/keyleak /usr/local/bin/keyleak
USER keyleak
WORKDIR /var/lib/keyleak
ENV KEYLEAK_LISTEN=0.0.0.0:3000 KEYLEAK_DATABASE_URL=sqlite:///var/lib/keyleak/keyleak.db
EXPOSE 3000
ENTRYPOINT ["keyleak"]
CMD ["serve"]
