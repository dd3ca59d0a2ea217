#!/bin/sh
# The install step of the container image (Dockerfile) — kept here so test/package-install.test.ts runs the
# very same steps on the very same tarball: an empty folder, the packed comfy-bridge installed into it with
# production dependencies only, and nothing else.
#   usage: scripts/image-install.sh <comfy-bridge-x.y.z.tgz> <prefix>
set -eu
tarball="$1"
prefix="$2"
mkdir -p "$prefix"
cd "$prefix"
printf '{ "name": "comfy-bridge-app", "private": true }\n' > package.json
# --prefer-offline: use the npm cache when it has the packages (CI, tests); the registry otherwise.
npm install --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error "$tarball"
