#!/usr/bin/env bash
# package.sh [OUT_DIR] — builds the Debian packages (l0l3-gateway, l0l3-ctl,
# l0l3-console, l0l3-doc) into OUT_DIR (default build/package/debs).
#
# Builds only the three shipped programs, optimised, in build/package (its own
# build directory, through ccache): RelWithDebInfo by default, which is what
# Debian itself builds (-O2 -g, stripped into the package) and compiles with
# the flags of the default preset, so a machine that has built build/default
# gets ccache hits. L0L3_PACKAGE_BUILD_TYPE=Release builds -O3 instead (a cold
# compile). Then CPack packs them with packaging/debian/CMakeLists.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build/package/debs}")
build_type=${L0L3_PACKAGE_BUILD_TYPE:-RelWithDebInfo}
build=build/package
jobs=${L0L3_JOBS:-$(nproc)}

bash scripts/install-deps.sh
if [[ ! -f $build/build.ninja ]] || [[ $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt") != "$build_type" ]]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="$build_type" -DL0L3_CCACHE=ON \
        -DL0L3_BUILD_TESTS=OFF -DL0L3_BUILD_BENCH=OFF >/dev/null
fi
echo "package: building l0l3-gateway l0l3-ctl l0l3-console ($build_type, -j$jobs)"
cmake --build "$build" -j"$jobs" --target l0l3-gateway l0l3-ctl l0l3-console

cmake -S packaging/debian -B "$build/deb" -DL0L3_BIN_DIR="$PWD/$build/bin" >/dev/null
rm -rf "$build/deb/packages"
cpack --config "$build/deb/CPackConfig.cmake" -B "$build/deb/packages" >"$build/deb/cpack.log" \
    || { cat "$build/deb/cpack.log" >&2; exit 1; }
mkdir -p "$out"
for deb in "$build"/deb/packages/*.deb; do
    cp "$deb" "$out/"
    echo "package: $out/$(basename "$deb")"
done
