#!/bin/sh
# Build the docker image migration-gate/postgres:15 from Debian's own packages, with no image
# registry: debootstrap a minimal bookworm with postgresql-15, add ci/image/docker-entrypoint.sh
# (POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB like the official image), `docker import`.
# For offline CI and air-gapped users whose engine cannot pull postgres:*.
#   ci/postgres-image.sh [--force] [--tag NAME:TAG] [--mirror URL]
# docker import only accepts CMD, ENTRYPOINT, ENV, EXPOSE, USER, VOLUME, WORKDIR changes.
# Skips the build when the image exists unless --force. Needs root (debootstrap) and docker.
set -eu

TAG="migration-gate/postgres:15"
FORCE=0
MIRROR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --tag) TAG="$2"; shift ;;
    --mirror) MIRROR="$2"; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "postgres-image.sh: unknown argument '$1' (use --force, --tag NAME:TAG, --mirror URL)" >&2; exit 2 ;;
  esac
  shift
done

die() { echo "postgres-image.sh: $*" >&2; exit 1; }
HERE="$(cd "$(dirname "$0")" && pwd)"
ENTRYPOINT="$HERE/image/docker-entrypoint.sh"
[ -f "$ENTRYPOINT" ] || die "missing $ENTRYPOINT"

command -v docker >/dev/null 2>&1 || die "docker CLI not found: install Docker Engine (https://docs.docker.com/engine/install/)"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running, may this user use it?)"

if [ "$FORCE" = 0 ] && docker image inspect "$TAG" >/dev/null 2>&1; then
  echo "postgres-image.sh: $TAG already exists (use --force to rebuild)"
  exit 0
fi

[ "$(id -u)" = 0 ] || die "debootstrap needs root: run with sudo"
if ! command -v debootstrap >/dev/null 2>&1; then
  echo "postgres-image.sh: installing debootstrap" >&2
  apt-get install -y debootstrap >/dev/null || die "debootstrap is missing and apt-get install debootstrap failed"
fi

# The mirror this machine already uses (deb822 .sources or one-line .list), so air-gapped
# sites with a local mirror need no configuration.
if [ -z "$MIRROR" ]; then
  MIRROR=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | awk '/^URIs:/ {print $2}' | grep -v -- '-security' | grep '/debian/*$' | head -1 || true)
fi
if [ -z "$MIRROR" ]; then
  MIRROR=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
    | awk '$1 == "deb" && $3 ~ /^bookworm$/ {for (i=2;i<=NF;i++) if ($i ~ /^(https?|file):/) {print $i; exit}}' || true)
fi
[ -n "$MIRROR" ] || MIRROR="http://deb.debian.org/debian"

ROOTFS="$(mktemp -d /var/tmp/migration-gate-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT INT TERM

echo "postgres-image.sh: debootstrap bookworm from $MIRROR (about a minute)" >&2
debootstrap --variant=minbase --include=postgresql-15 bookworm "$ROOTFS" "$MIRROR" \
  >"$ROOTFS.log" 2>&1 || { tail -20 "$ROOTFS.log" >&2; rm -f "$ROOTFS.log"; die "debootstrap failed (see above); check the mirror $MIRROR or pass --mirror URL"; }
rm -f "$ROOTFS.log"

# The package's default cluster would be dead weight: the entrypoint initdb's into $PGDATA.
rm -rf "$ROOTFS/var/lib/postgresql/15" "$ROOTFS/etc/postgresql/15"
# Shrink: documentation, translations, apt lists and caches are not needed at run time.
rm -rf "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
  "$ROOTFS"/usr/share/locale/* "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* \
  "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/log/*.log
# JIT (LLVM + z3, ~130 MB): PostgreSQL runs without it when llvmjit.so is absent, and short
# migration statements gain nothing from it. Locale sources are only for locale-gen.
rm -rf "$ROOTFS"/usr/lib/postgresql/*/lib/llvmjit* "$ROOTFS"/usr/lib/postgresql/*/lib/bitcode \
  "$ROOTFS"/usr/lib/*-linux-gnu/libLLVM-*.so* "$ROOTFS"/usr/lib/*-linux-gnu/libz3.so* \
  "$ROOTFS"/usr/share/i18n
install -m 0755 "$ENTRYPOINT" "$ROOTFS/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$ROOTFS/var/lib/postgresql/data" "$ROOTFS/var/run/postgresql"
chroot "$ROOTFS" chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql

tar -C "$ROOTFS" -c . | docker import \
  --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
  --change 'CMD ["postgres"]' \
  --change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV PGDATA=/var/lib/postgresql/data' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'EXPOSE 5432' \
  - "$TAG" >/dev/null || die "docker import failed"
echo "postgres-image.sh: built $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
