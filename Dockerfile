# Multi-stage build: compile with the full toolchain, ship a slim image with only libpq.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
RUN cargo build --release --locked --bin organizeo

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/organizeo --create-home organizeo
COPY --from=build /src/target/release/organizeo /usr/local/bin/organizeo
USER organizeo
WORKDIR /var/lib/organizeo
ENV ORGANIZEO_LISTEN=0.0.0.0:8080 \
    ORGANIZEO_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["organizeo"]
CMD ["serve"]
