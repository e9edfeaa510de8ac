# Multi-stage: build the single binary from the lockfile, ship it on a slim base as a non-root user.
#   docker build --build-arg VERSION=0.1.0 -t openclaw-relay .     (or: docker compose up -d)
# The build stage needs only Node and npm, like a clone: `npm ci` installs exactly package-lock.json,
# Bun included (pinned devDependency), and fails if the lock does not match package.json.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json bunfig.toml tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
COPY drizzle ./drizzle
COPY scripts ./scripts
# The version /health, /metrics and `openclaw-relay version` report; without it, package.json's.
ARG VERSION=
RUN RELAY_VERSION="$VERSION" npm run --silent build

FROM debian:bookworm-slim
ARG VERSION=
LABEL org.opencontainers.image.title="openclaw-relay" \
      org.opencontainers.image.version="$VERSION" \
      org.opencontainers.image.source="https://github.com/openclaw-relay/openclaw-relay"
# /data holds relay.db (JWT_SECRET, user data): private to the relay user.
RUN useradd --system --uid 10001 --home /data relay && mkdir -p -m 0700 /data && chown relay /data
COPY --from=build /src/dist/openclaw-relay /usr/local/bin/openclaw-relay
USER relay
WORKDIR /data
ENV HOST=0.0.0.0 PORT=5178 DATABASE_PATH=/data/relay.db BUN_JSC_useFTLJIT=0
EXPOSE 5178
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/openclaw-relay", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/openclaw-relay"]
CMD ["serve"]
