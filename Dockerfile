# syntax=docker/dockerfile:1
#
# Everruns: one image for every role; the command picks the role.
#
#   docker build -t everruns .
#   docker run --rm -e DATABASE_URL=postgres://… everruns migrate
#   docker run -d   -e DATABASE_URL=postgres://… everruns                  # a worker (the default)
#   docker run -d   -e DATABASE_URL=postgres://… everruns worker --concurrency 20
#   docker run -d   -e DATABASE_URL=postgres://… -e HOST=0.0.0.0 -p 4000:4000 everruns api
#
# docker-compose.yml runs the whole thing (Postgres, migrations, API, workers, console).
#
# Server code is TypeScript run directly by Node's type stripping: there is no compile step.
# Type stripping is on by default from Node 22.18, so keep the base image on a recent 22.x.
ARG NODE_IMAGE=node:22-bookworm-slim
FROM ${NODE_IMAGE}

WORKDIR /app

# Dependencies first, so this layer is reused until package*.json changes.
#
# The full `npm ci`, dev dependencies included: runtime code may import packages that are
# listed as dev dependencies, so `--omit=dev` / `npm prune --omit=dev` is not safe here.
#
# `--ignore-scripts` skips one install script on purpose: the `node` package's, which downloads
# a second Node 22 binary (~120 MB) that the image does not need (the base image is Node 22,
# and ENTRYPOINT runs that one). Every other package that has an install script is rebuilt
# right after, so it still runs (today: the symlink hydration of embedded Postgres'
# binaries, used by `everruns start` when DATABASE_URL is unset).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && node -e ' \
      const fs = require("fs"); \
      const lock = require("./package-lock.json"); \
      for (const [path, pkg] of Object.entries(lock.packages)) \
        if (pkg.hasInstallScript && path !== "node_modules/node" && fs.existsSync(path)) \
          console.log(path.replace(/^.*node_modules\//, ""));' \
    | xargs -r npm rebuild --no-audit --no-fund \
 && npm cache clean --force

COPY . .

# A hook for build steps that may come (for example the web console's); a no-op while
# package.json has no "build" script.
RUN npm run build --if-present

# Set only after `npm ci`: with NODE_ENV=production npm would leave dev dependencies out.
ENV NODE_ENV=production

# Run as the unprivileged `node` user of the base image. The code stays root-owned (read-only
# to the process); only .everruns/ (embedded Postgres data for `everruns start` without
# DATABASE_URL) is writable.
RUN mkdir -p /app/.everruns && chown node:node /app/.everruns
USER node

# 4000: `everruns api` (PORT); 3000: `everruns web`.
EXPOSE 4000 3000

# No HEALTHCHECK here: the default role (worker) serves no HTTP. The API's is in
# docker-compose.yml (GET /healthz on PORT).
ENTRYPOINT ["node", "scripts/everruns.ts"]
CMD ["worker"]
