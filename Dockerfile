# Multi-stage: build the single binary with Bun, ship it on a slim base as a non-root user.
FROM oven/bun:1.4.5 AS build
WORKDIR /src
COPY package.json package-lock.json bunfig.toml tsconfig.json ./
RUN bun install --ignore-scripts
COPY src ./src
COPY drizzle ./drizzle
COPY scripts ./scripts
RUN bun scripts/build.ts

FROM debian:bookworm-slim
# /data holds relay.db (JWT_SECRET, user data): private to the relay user.
RUN useradd --system --uid 10001 --home /data relay && mkdir -p -m 0700 /data && chown relay /data
COPY --from=build /src/dist/openclaw-relay /usr/local/bin/openclaw-relay
USER relay
WORKDIR /data
ENV HOST=0.0.0.0 PORT=5178 DATABASE_PATH=/data/relay.db
EXPOSE 5178
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/openclaw-relay", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/openclaw-relay"]
CMD ["serve"]
