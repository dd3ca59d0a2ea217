# comfy-bridge container image. Build: docker build -t comfy-bridge .   Run: see compose.yaml and docs/deployment.md.
# The install step lives in scripts/image-install.sh, which test/package-install.test.ts runs on the same tarball.

# --- build: compile TypeScript and pack the package exactly as npm would publish it ---
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN mkdir /pack && npm pack --pack-destination /pack && mv /pack/comfy-bridge-*.tgz /pack/comfy-bridge.tgz

# --- runtime: the packed package with production dependencies only, as a non-root user ---
FROM node:20-bookworm-slim
ENV NODE_ENV=production
COPY --from=build /pack/comfy-bridge.tgz /tmp/comfy-bridge.tgz
COPY scripts/image-install.sh /tmp/image-install.sh
RUN sh /tmp/image-install.sh /tmp/comfy-bridge.tgz /app \
 && rm -rf /tmp/comfy-bridge.tgz /tmp/image-install.sh /root/.npm \
 && mkdir -p /data && chown node:node /data
WORKDIR /app
USER node
# Every setting is a COMFY_BRIDGE_* variable (docs/reference/configuration.md); these are the image's defaults.
ENV COMFY_BRIDGE_HOST=0.0.0.0 \
    COMFY_BRIDGE_PORT=8288 \
    COMFY_BRIDGE_DATA_DIR=/data \
    COMFY_BRIDGE_COMFYUI_URLS=http://comfyui:8188 \
    COMFY_BRIDGE_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8288
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "/app/node_modules/comfy-bridge/scripts/healthcheck.mjs"]
ENTRYPOINT ["/app/node_modules/.bin/comfy-bridge"]
CMD ["serve"]
