# One image with every PulseDB-C program: pulsedb (CLI and `up`),
# pulsedb-storage, pulsedb-syncer, pulsedb-gateway.
#
#   docker build -t pulsedb .                      FROM debian:bookworm-slim
#   docker build --build-arg BASE_IMAGE=my/base -t pulsedb .
#
# With no image registry in reach, deploy/base-image.sh builds
# debian:bookworm-slim locally from Debian's packages first.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake make gcc g++ libc6-dev pkg-config libzmq3-dev libczmq-dev libmsgpack-dev \
      liblmdb-dev libcmocka-dev libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev \
      libyaml-dev libhnswlib-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# What the build reads, and nothing else, so that edits elsewhere (docs,
# scripts, tests) keep the compiled layer cached.
COPY CMakeLists.txt ./
COPY common common
COPY services services
COPY tools tools
COPY bench bench
COPY tests/CMakeLists.txt tests/
COPY tests/unit tests/unit
COPY tests/faultfs tests/faultfs
# Built into the gateway: GET /openapi.json.
COPY docs/openapi.yaml docs/
# Only the programs: the tests run outside the image (scripts/test.sh).
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null \
 && cmake --build build -j"$(nproc)" \
      --target pulsedb pulsedb-storage pulsedb-syncer pulsedb-gateway \
 && mkdir /out \
 && cp build/tools/pulsedb build/services/storage/pulsedb-storage \
       build/services/syncer/pulsedb-syncer build/services/gateway/pulsedb-gateway /out/

FROM ${BASE_IMAGE}
# Runtime libraries only; curl runs the health check, tini reaps and
# forwards signals as PID 1, mdb_copy (lmdb-utils) makes hot backups.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libzmq5 libczmq4 libmsgpackc2 liblmdb0 libmicrohttpd12 libjansson4 libcurl4 libstdc++6 \
      ca-certificates curl tini lmdb-utils \
 && rm -rf /var/lib/apt/lists/*
# /var/lib/pulsedb-shared: where a volume two nodes share is mounted (the
# entrypoint's first-start peer tokens), owner-only from the start.
RUN groupadd --system --gid 10001 pulsedb \
 && useradd --system --uid 10001 --gid pulsedb --home-dir /var/lib/pulsedb \
      --shell /usr/sbin/nologin pulsedb \
 && install -d -o pulsedb -g pulsedb -m 0750 /var/lib/pulsedb \
 && install -d -o pulsedb -g pulsedb -m 0700 /var/lib/pulsedb-shared
COPY --from=build /out/ /usr/local/bin/
COPY deploy/entrypoint.sh /usr/local/bin/pulsedb-entrypoint
COPY deploy/show-token.sh /usr/local/bin/pulsedb-show-token

# Every program reads PULSEDB_* variables (see README "Configuration").
# The HTTP API listens on every interface of the container, so it needs
# tokens: the entrypoint makes the file at first start.
ENV PULSEDB_DATA=/var/lib/pulsedb \
    PULSEDB_HTTP_HOST=0.0.0.0 \
    PULSEDB_API_TOKENS=/var/lib/pulsedb/api-tokens \
    PULSEDB_HTTP_PORT=7070
USER pulsedb
WORKDIR /var/lib/pulsedb
VOLUME /var/lib/pulsedb
EXPOSE 7070 7700
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PULSEDB_HTTP_PORT}/health" >/dev/null || exit 1
ENTRYPOINT ["tini", "-s", "--", "pulsedb-entrypoint"]
CMD ["pulsedb", "up"]
