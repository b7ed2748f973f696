#!/usr/bin/env bash
# Build local stand-ins for the public base images the Dockerfile and the compose files name,
# for machines that reach Debian's mirror and the npm registry but no image registry (CI here).
#
#   scripts/container-base.sh            build what is missing, print the tags it provides
#   scripts/container-base.sh --rebuild  build again even where the tags exist
#   scripts/container-base.sh --postgres also the postgres stand-in when no compose file names one
#
# What it builds, each only when missing (a tagged image already there, stand-in or the real
# thing pulled from a registry, is used as it is; the images are the cache between runs):
#
#   scopegate-standin/debian:bookworm   debootstrap --variant=minbase bookworm from the mirror apt
#                                       uses here (the rootfs tarball is also kept in $CACHE)
#   scopegate-standin/node:20           + this machine's node, npm and node headers under /usr/local
#                                       (where the official image has them), a `node` user (uid
#                                       1000), and this machine's CA bundle with
#                                       NODE_EXTRA_CA_CERTS / npm_config_cafile pointing at it, so
#                                       `npm ci` in a build reaches the registry as this machine
#                                       does; npm_config_nodedir so node-gyp never downloads headers
#   scopegate-standin/postgres:15       + Debian's postgresql, with an entrypoint that reads the
#                                       official image's POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB
#
# and tags them as every node:* and postgres:* image named by a FROM in docker/Dockerfile or an
# `image:` in docker/compose*.yaml. Builds use --network host: the build reaches the registry and
# the mirror exactly as this machine does.
#
# Needs: root, debootstrap, a Docker engine (scripts/ci-docker.sh), node and npm on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE=${SCOPEGATE_CONTAINER_CACHE:-/var/cache/scopegate-container}
REBUILD=0
WITH_PG=0
for a in "$@"; do
  case "$a" in
    --rebuild) REBUILD=1 ;;
    --postgres) WITH_PG=1 ;;   # build the postgres stand-in even if no compose file names one
    *) echo "usage: $0 [--rebuild] [--postgres]" >&2; exit 2 ;;
  esac
done

DEBIAN_IMAGE=scopegate-standin/debian:bookworm
NODE_IMAGE=scopegate-standin/node:20
PG_IMAGE=scopegate-standin/postgres:15

say() { echo "container-base: $*"; }
has_image() { docker image inspect "$1" >/dev/null 2>&1; }
elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

docker info >/dev/null 2>&1 || { say "no Docker engine answers (run scripts/ci-docker.sh first)" >&2; exit 1; }

# ---- which tags the repository's files ask for --------------------------------------------------
wanted() {
  # FROM lines (the final word that is not "AS name") and compose `image:` values
  {
    awk 'toupper($1)=="FROM" { print $2 }' docker/Dockerfile
    grep -hE '^\s*image:\s*' docker/compose*.yaml 2>/dev/null | sed -E 's/^\s*image:\s*//; s/["'\'']//g; s/\s+#.*$//'
  } | grep -E "^$1:" | sort -u
}
mapfile -t NODE_TAGS < <(wanted node)
mapfile -t PG_TAGS < <(wanted postgres)
say "the Dockerfile and compose files name: ${NODE_TAGS[*]:-} ${PG_TAGS[*]:-}"

# The stand-ins this script builds carry a format label; one built by an older version of it (an
# early one had its / closed to every user but root) lacks it and is built again. An image that is
# not a stand-in (the real one, pulled from a registry) is used as it is. Reading labels costs
# nothing, where trying each image with `docker run` cost seconds apiece (vfs copies the rootfs).
FORMAT=2
usable() {
  local label format
  label=$(docker image inspect -f '{{index .Config.Labels "org.scopegate.stand-in"}}' "$1" 2>/dev/null) || return 1
  [ -z "$label" ] && return 0
  format=$(docker image inspect -f '{{index .Config.Labels "org.scopegate.stand-in.format"}}' "$1" 2>/dev/null)
  [ "$format" = "$FORMAT" ]
}
node_missing() {
  for t in "$@"; do
    if [ $REBUILD = 1 ] || ! usable "$t"; then echo "$t"; fi
  done
}
mapfile -t NODE_MISSING < <(node_missing "${NODE_TAGS[@]}")
pg_missing() {
  for t in "$@"; do
    if [ $REBUILD = 1 ] || ! usable "$t"; then echo "$t"; fi
  done
}
mapfile -t PG_MISSING < <(pg_missing "${PG_TAGS[@]}")
if [ $WITH_PG = 1 ] && [ ${#PG_TAGS[@]} = 0 ] && { [ $REBUILD = 1 ] || ! has_image "$PG_IMAGE"; }; then
  PG_MISSING=("$PG_IMAGE")
fi
if [ ${#NODE_MISSING[@]} = 0 ] && [ ${#PG_MISSING[@]} = 0 ]; then
  say "every base image is there already (cached); nothing to build"
  exit 0
fi

# ---- the Debian mirror apt uses here ------------------------------------------------------------
mirror() {
  local m
  m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null \
      | grep -oE '(https?://[^ ]+/debian)/?( |$)' | grep -v security | head -n1 | tr -d ' ' || true)
  echo "${m:-http://deb.debian.org/debian}"
}

# ---- debian:bookworm minbase ----------------------------------------------------------------------
build_debian() {
  local t0 tarball root
  t0=$(date +%s)
  tarball="$CACHE/debian-bookworm-minbase-v2.tar"   # v2: / is 0755
  mkdir -p "$CACHE"
  if [ $REBUILD = 1 ] || [ ! -s "$tarball" ]; then
    command -v debootstrap >/dev/null || { say "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
    root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    local m; m=$(mirror)
    say "debootstrap --variant=minbase bookworm from $m (a few minutes)"
    debootstrap --variant=minbase bookworm "$root" "$m" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -n 30 "$CACHE/debootstrap.log" >&2; rm -rf "$root"; exit 1; }
    # what the official image leaves out: apt caches, and the pieces a container never needs
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/dev/* "$root"/proc/* "$root"/sys/*
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$m" "$m" >"$root/etc/apt/sources.list"
    # mktemp -d made the rootfs 0700, and tar records "." with that mode: the image's / would then
    # be closed to every user but root, and a non-root container could not even exec /bin/sh
    chmod 0755 "$root"
    tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  else
    say "using the cached rootfs $tarball"
  fi
  say "docker import → $DEBIAN_IMAGE"
  docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' "$tarball" "$DEBIAN_IMAGE" >/dev/null
  say "$DEBIAN_IMAGE built in $(elapsed "$t0")"
}

ensure_debian() {
  # only reached when a stand-in must be built: tried for real, since the images on it inherit its /
  if [ $REBUILD = 1 ] || ! has_image "$DEBIAN_IMAGE" || ! docker run --rm -u 1000:1000 "$DEBIAN_IMAGE" /bin/true >/dev/null 2>&1; then
    build_debian
  else
    say "$DEBIAN_IMAGE is cached"
  fi
}

# ---- node:20 ----------------------------------------------------------------------------------------
build_node() {
  local t0 ctx node npmdir nodedir bundle
  t0=$(date +%s)
  node=$(readlink -f "$(command -v node)")
  npmdir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  nodedir=$(npm config get nodedir 2>/dev/null || true)
  [ -f "$nodedir/include/node/node.h" ] || nodedir=$(dirname "$(dirname "$node")")
  [ -f "$nodedir/include/node/node.h" ] || { say "no node headers found (npm config get nodedir: $nodedir)" >&2; exit 1; }
  bundle=$(npm config get cafile 2>/dev/null || true)
  case "$bundle" in ""|null|undefined) bundle=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt} ;; esac
  [ -s "$bundle" ] || { say "no CA bundle at $bundle" >&2; exit 1; }
  say "node stand-in: $node ($("$node" --version)), npm from $npmdir, headers from $nodedir/include/node, CA bundle $bundle"

  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' RETURN
  mkdir -p "$ctx/root/usr/local/bin" "$ctx/root/usr/local/lib/node_modules" "$ctx/root/usr/local/include" "$ctx/root/etc/ssl/certs"
  cp "$node" "$ctx/root/usr/local/bin/node"
  cp -R "$npmdir" "$ctx/root/usr/local/lib/node_modules/npm"
  cp -R "$nodedir/include/node" "$ctx/root/usr/local/include/node"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ctx/root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ctx/root/usr/local/bin/npx"
  cp "$bundle" "$ctx/root/etc/ssl/certs/ca-certificates.crt"
  chmod -R a+rX,go-w "$ctx/root"
  cat >"$ctx/Dockerfile" <<EOF
FROM $DEBIAN_IMAGE
COPY root/ /
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_VERSION=$("$node" --version | tr -d v) \\
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \\
    npm_config_cafile=/etc/ssl/certs/ca-certificates.crt \\
    npm_config_nodedir=/usr/local
LABEL org.scopegate.stand-in="node $("$node" --version) on debian bookworm minbase, built by scripts/container-base.sh" \\
      org.scopegate.stand-in.format=$FORMAT
CMD ["node"]
EOF
  say "docker build → $NODE_IMAGE"
  docker build --network host -q -t "$NODE_IMAGE" "$ctx" >/dev/null
  # as a user other than root, as the images built on it run (scopegate uid 10001, agents uid 1000)
  docker run --rm -u 1000:1000 "$NODE_IMAGE" node -e 'process.stdout.write("container-base: node " + process.version + " runs in the stand-in as uid " + process.getuid() + "\n")' \
    || { say "node does not run in $NODE_IMAGE as uid 1000" >&2; exit 1; }
  say "$NODE_IMAGE built in $(elapsed "$t0")"
}

# ---- postgres:15 ------------------------------------------------------------------------------------
build_pg() {
  local t0 ctx
  t0=$(date +%s)
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' RETURN
  cp scripts/container/postgres-entrypoint.sh "$ctx/entrypoint.sh"
  cat >"$ctx/Dockerfile" <<EOF
FROM $DEBIAN_IMAGE
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \\
 && rm -rf /var/lib/apt/lists/* \\
 && rm -rf /var/lib/postgresql/15 /etc/postgresql/15 \\
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \\
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:\$PATH PGDATA=/var/lib/postgresql/data
LABEL org.scopegate.stand-in="Debian's postgresql-15 on debian bookworm minbase, built by scripts/container-base.sh" \\
      org.scopegate.stand-in.format=$FORMAT
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["sh", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
EOF
  say "docker build → $PG_IMAGE (apt-get install postgresql-15)"
  docker build --network host -q -t "$PG_IMAGE" "$ctx" >/dev/null
  say "$PG_IMAGE built in $(elapsed "$t0")"
}

T0=$(date +%s)
ensure_debian
if [ ${#NODE_MISSING[@]} -gt 0 ]; then
  if [ $REBUILD = 1 ] || ! usable "$NODE_IMAGE"; then build_node; else say "$NODE_IMAGE is cached"; fi
  for t in "${NODE_MISSING[@]}"; do docker tag "$NODE_IMAGE" "$t"; say "tagged $t"; done
fi
if [ ${#PG_MISSING[@]} -gt 0 ]; then
  if [ $REBUILD = 1 ] || ! usable "$PG_IMAGE"; then build_pg; else say "$PG_IMAGE is cached"; fi
  for t in "${PG_MISSING[@]}"; do [ "$t" = "$PG_IMAGE" ] || { docker tag "$PG_IMAGE" "$t"; say "tagged $t"; }; done
fi
# the stand-ins these replaced, now untagged: vfs keeps every layer as a full copy
docker image prune -f >/dev/null 2>&1 || true
say "done in $(elapsed "$T0")"
