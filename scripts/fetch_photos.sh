#!/usr/bin/env bash
# Real photos for the importer and demo tests, from Debian's package
# registry: scikit-image's sample images (python3-skimage, pinned, sha256
# checked; only the .deb is downloaded, nothing is installed). astronaut.png
# is NASA's portrait of Eileen Collins (public domain): one face, 512x512.
# Idempotent; writes .cache/photos/. Never run at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.cache/photos
pkg=python3-skimage
ver=0.19.3-8
deb_sha=728d88c3e3440f1f3712de0805dc834d29248ff07e1eec8c0f3da07606f752f9
png_sha=88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5
if [ -f "$out/astronaut.png" ] && echo "$png_sha  $out/astronaut.png" | sha256sum -c --quiet - 2>/dev/null; then
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && { apt-get download "$pkg=$ver" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$pkg=$ver" >/dev/null 2>&1; }; }) || {
  echo "fetch_photos: apt-get download $pkg=$ver failed (Debian's package registry unreachable?)" >&2; exit 1; }
echo "$deb_sha  $tmp/${pkg}_${ver}_all.deb" | sha256sum -c --quiet - || { echo "fetch_photos: ${pkg}_${ver}_all.deb: sha256 mismatch" >&2; exit 1; }
dpkg-deb -x "$tmp/${pkg}_${ver}_all.deb" "$tmp/x"
mkdir -p "$out"
cp "$tmp/x/usr/lib/python3/dist-packages/skimage/data/astronaut.png" "$out/astronaut.png"
echo "$png_sha  $out/astronaut.png" | sha256sum -c --quiet -
echo "fetch_photos: $out/astronaut.png"
