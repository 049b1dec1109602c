# syntax=docker/dockerfile:1
# Multi-stage: compile with dev dependencies, ship production dependencies and dist/ only.

FROM node:22-slim AS build
WORKDIR /app
# onnxruntime-node's install script downloads CUDA binaries; the CPU runtime ships in the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --ignore-scripts && npm run build

FROM node:22-slim AS production-deps
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

FROM node:22-slim
ENV NODE_ENV=production \
    SGP_HOST=0.0.0.0 \
    SGP_PORT=8600 \
    XDG_CACHE_HOME=/home/node/.cache
WORKDIR /app
COPY --from=production-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
EXPOSE 8600
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.SGP_PORT || 8600) + '/livez').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
