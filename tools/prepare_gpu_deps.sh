#!/usr/bin/env bash
# Run HERE (not on the GPU machine): the lent GPU machine has no apt and no network, and lacks the
# build's small dependencies. This downloads their Debian packages and unpacks them into
# .gpu-deps/root (git-ignored, about 30 MB) so a device run can carry `.gpu-deps`; tools/gpu_check.sh
# picks it up there automatically.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(nlohmann-json3-dev libcli11-dev libfmt-dev libfmt9 libgtest-dev
      libopenblas-dev libopenblas0-pthread libopenblas-pthread-dev libgfortran5)
rm -rf .gpu-deps && mkdir -p .gpu-deps/debs .gpu-deps/root
(cd .gpu-deps/debs && apt-get download "${PKGS[@]}" >/dev/null 2>&1) ||
  { apt-get update -qq && (cd .gpu-deps/debs && apt-get download "${PKGS[@]}"); }
for d in .gpu-deps/debs/*.deb; do dpkg -x "$d" .gpu-deps/root; done
rm -rf .gpu-deps/debs .gpu-deps/root/usr/share/doc .gpu-deps/root/usr/share/man
find .gpu-deps/root \( -name "libopenblas*.a" -o -name "liblapack*" -o -name "libblas.a" \) -delete
grep -qx '/.gpu-deps/' .git/info/exclude 2>/dev/null || echo '/.gpu-deps/' >> .git/info/exclude
du -sh .gpu-deps | sed 's/^/prepared: /'
