# The ccflow worker image: Node, bubblewrap for local sandboxes, and the claude CLI version
# ccflow pins (the @anthropic-ai/claude-code dependency in package.json). Used by
# docker-compose.yml; run it against any Temporal cluster with TEMPORAL_ADDRESS.
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# A worker needs no Temporal dev server: skip the postinstall that installs the Temporal CLI.
ENV CCFLOW_SKIP_SETUP=1
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY sandbox-template ./sandbox-template
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim
# Must equal the @anthropic-ai/claude-code version in package.json (a test checks it).
ARG CLAUDE_CODE_VERSION=2.1.330
RUN apt-get update \
  && apt-get install -y --no-install-recommends bubblewrap ca-certificates git \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/sandbox-template ./sandbox-template
COPY bin ./bin
# The image carries exactly the pinned claude CLI, and its native binary runs.
RUN test "$(node -p 'require("@anthropic-ai/claude-code/package.json").version')" = "${CLAUDE_CODE_VERSION}" \
  && "$(node --input-type=module -e 'import { claudeBinaryPath } from "/app/dist/worker/config.js"; console.log(claudeBinaryPath())')" --version
ENV NODE_ENV=production \
    CCFLOW_HOME=/var/lib/ccflow \
    CCFLOW_METRICS_PORT=9464
VOLUME ["/var/lib/ccflow"]
EXPOSE 9464
ENTRYPOINT ["node", "bin/ccflow.js"]
CMD ["worker"]
