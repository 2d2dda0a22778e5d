# syntax=docker/dockerfile:1
# One image for the operator and the sidecar: `airlock operator` (the chart's Deployment) and
# `airlock proxy --operator …` (what the webhook injects) are subcommands of the same CLI.
#   docker build -t ghcr.io/airlock-dev/airlock:0.1.0 .
# The application tree is made by scripts/build-image-tree.sh, the script the test suite runs too
# (test/image/image-tree.test.ts builds the same tree, runs both subcommands from it and records its
# size and the sidecar's idle memory): precompiled JavaScript, production dependencies only.
ARG NODE_IMAGE=node:24-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# Dependencies first (their own layer): all of them, since TypeScript compiles the tree.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.image.json ./
COPY bin ./bin
COPY lib ./lib
COPY policy ./policy
COPY proxy ./proxy
COPY audit ./audit
COPY operator ./operator
COPY distribution ./distribution
COPY examples/orders.yaml examples/demo-seed.sql ./examples/
COPY scripts/build-image-tree.sh ./scripts/
RUN sh scripts/build-image-tree.sh /app

# Runtime: Node 24 and the tree, nothing else. The entry point is exec form, so no shell is started
# (the base image still contains one; nothing here needs it). 65532 is the non-root user the chart's
# podSecurityContext and the injected sidecar's securityContext name (runAsNonRoot needs a number).
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=0:0 /app /app
USER 65532:65532
# The spool and other writes go to mounted volumes (/var/lib/airlock/spool in the sidecar, /tmp in the
# operator): the chart and the webhook run this read-only.
ENTRYPOINT ["node", "/app/bin/airlock.js"]
CMD ["--help"]
