# Courier Event Gateway image: the `gateway` and `routing-sim` executables plus the migrations folder.
#
#   docker build -t courier-event-gateway .
#   docker run --rm courier-event-gateway gateway --help
#   docker run --rm courier-event-gateway routing-sim --help
#
# Package.swift declares swift-tools-version 6.2, so the build image must be Swift 6.2 or newer
# (the development machines use 6.3.1).
ARG SWIFT_VERSION=6.3

# ---- build ------------------------------------------------------------------------------------------
FROM swift:${SWIFT_VERSION}-bookworm AS build

RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends \
        libmongoc-dev libbson-dev libhiredis-dev libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Resolve dependencies in their own layer so that source edits do not fetch them again.
# `Package.*` also matches Package.resolved when one is present (it is gitignored at the moment).
COPY Package.* ./
RUN swift package resolve

# Tests/ too: SwiftPM checks that every target's folder exists, test targets included.
COPY Sources ./Sources
COPY Tests ./Tests

# `gateway` and `routing-sim` are always copied (the build fails if either is missing). Further executable
# products can be added with --build-arg EXTRA_PRODUCTS="a b"; a name the package does not build is
# reported and skipped.
ARG EXTRA_PRODUCTS=""

# A plain `swift build` builds every product. The Swift runtime and Foundation are linked statically, so
# the runtime image needs only the C libraries below.
RUN swift build -c release --static-swift-stdlib \
    && bin="$(swift build -c release --static-swift-stdlib --show-bin-path)" \
    && mkdir -p /staging/bin \
    && cp "$bin/gateway" "$bin/routing-sim" /staging/bin/ \
    && for product in $EXTRA_PRODUCTS; do \
         if [ -x "$bin/$product" ]; then cp "$bin/$product" /staging/bin/; \
         else echo "note: product '$product' was not built; not copied"; fi; \
       done \
    && cp /usr/libexec/swift/linux/swift-backtrace-static /staging/bin/

# ---- runtime ----------------------------------------------------------------------------------------
FROM debian:bookworm-slim

# libmongoc links libmongocrypt (see shared C-DRIVERS.md); libssl3 for TLS connection strings;
# tzdata for Foundation's time zone database.
RUN export DEBIAN_FRONTEND=noninteractive \
    && apt-get -q update \
    && apt-get -q install -y --no-install-recommends \
        libmongoc-1.0-0 libbson-1.0-0 libmongocrypt0 libhiredis0.14 libssl3 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --system --user-group --uid 10001 --home-dir /app --shell /usr/sbin/nologin gateway

WORKDIR /app
COPY --from=build /staging/bin/ /app/bin/
COPY migrations/ /app/migrations/

ENV PATH="/app/bin:${PATH}" \
    GATEWAY_MIGRATIONS_DIR=/app/migrations \
    SWIFT_BACKTRACE=enable=yes,sanitize=yes,threads=all,images=all,interactive=no,swift-backtrace=/app/bin/swift-backtrace-static

USER gateway:gateway

# The api role listens on GATEWAY_HTTP_HOST:GATEWAY_HTTP_PORT; set GATEWAY_HTTP_HOST=0.0.0.0 to reach it
# from outside the container (the relay and worker roles serve no HTTP). `serve` refuses to start while
# migrations are pending: run `gateway migrate`. `routing-sim --host 0.0.0.0` listens on 8090 by default.
EXPOSE 8080 8090
CMD ["gateway", "serve", "--role", "api"]
