#!/usr/bin/env bash
# Test images for the Docker backend, built offline (no registry is reached):
#   sandport-test:host     an empty root whose /bin, /lib, /lib64, /sbin link
#                          into /usr; tests mount the host's /usr and /etc
#                          read-only, so python3, sh and git are the host's.
#   sandport-test:busybox  a static busybox and nothing else: what "the image
#                          needs nothing but /bin/sh" means.
set -euo pipefail
docker=${DOCKER:-docker}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! $docker image inspect sandport-test:host >/dev/null 2>&1; then
  mkdir -p "$tmp/host"/{usr,etc,tmp,workspace}
  chmod 1777 "$tmp/host/tmp"
  for d in bin lib lib64 sbin; do ln -s "usr/$d" "$tmp/host/$d"; done
  tar -C "$tmp/host" -cf "$tmp/host.tar" .
  $docker import "$tmp/host.tar" sandport-test:host >/dev/null
fi

if ! $docker image inspect sandport-test:busybox >/dev/null 2>&1; then
  bb=/bin/busybox   # from the busybox-static package
  # A dynamic binary names its loader in the first page (PT_INTERP).
  if [ ! -x "$bb" ] || head -c 4096 "$bb" | grep -qa '/lib64/ld-linux'; then
    echo "images.sh: $bb is missing or not static: apt-get install busybox-static" >&2
    exit 1
  fi
  mkdir -p "$tmp/bb"/{bin,tmp,workspace}
  cp "$bb" "$tmp/bb/bin/busybox"
  for a in sh ls cat echo sleep printf kill head seq true false nc; do ln -s busybox "$tmp/bb/bin/$a"; done
  tar -C "$tmp/bb" -cf "$tmp/bb.tar" .
  $docker import "$tmp/bb.tar" sandport-test:busybox >/dev/null
fi
echo "test images ready: sandport-test:host sandport-test:busybox"
