#!/usr/bin/env bash
# fresh-debian.sh runs the README's set-up where nothing else was
# installed: a container of a minimal Debian (bookworm, made here with
# debootstrap from Debian's own mirror, so no image registry is needed),
# with only this machine's Go toolchain and a clean clone of the repository
# (git and ca-certificates, as cloning needs them). Inside it runs what
# .ci/run runs: install make, then `make test` (or TARGET, e.g.
# TARGET="tools unit"). Needs root and Docker; installs debootstrap if
# missing. Go modules come through the module proxy as on any machine;
# set GOMODCACHE_HOST to share this machine's module cache instead. The
# certificate authorities this machine adds to Debian's
# (/usr/local/share/ca-certificates, e.g. of a TLS proxy on the way out)
# are added in the container too, or it could reach no HTTPS server.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-edgecache-fresh-debian:bookworm}
TARGET=${TARGET:-test}
goroot=$(go env GOROOT)

if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { apt-get update -q && apt-get install -y -q debootstrap; }
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian
  tar -C "$rootfs" -c . | docker import - "$IMAGE"
fi

src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
git clone -q "$PWD" "$src/edgecache"
mounts=()
if [ -n "${GOMODCACHE_HOST:-}" ]; then mounts+=(-v "$GOMODCACHE_HOST:/root/go/pkg/mod"); fi
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mounts+=(-v /usr/local/share/ca-certificates:/usr/local/share/ca-certificates:ro)
fi
docker run --rm --shm-size 1g \
  -v "$goroot:/usr/local/go:ro" -v "$src/edgecache:/src" "${mounts[@]}" -w /src \
  -e PATH=/usr/local/go/bin:/root/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  "$IMAGE" bash -c "set -e
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q git ca-certificates >/dev/null
    update-ca-certificates >/dev/null
    command -v make >/dev/null || { echo 'no make: installing it, as .ci/run does'; apt-get install -y -q make >/dev/null; }
    command -v gcc >/dev/null && echo 'gcc is already here: this is not a fresh machine' || echo 'no C compiler yet'
    make $TARGET"
