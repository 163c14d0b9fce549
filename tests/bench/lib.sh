# Shared by the benches' run.sh (sourced after deploy/local/lib.sh): the packages a bench
# needs beyond deps.sh, and the Release build of its targets in $VOEPY_BUILD_DIR.

# Install the missing packages among "$@"; a freshly installed nginx package may start a
# system nginx on port 80: the benches run their own, so it is stopped.
bench_install() {
    vp_apt_install "$@"
    if [[ " ${VP_INSTALLED[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null &&
        systemctl is-active --quiet nginx 2>/dev/null; then
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo=sudo
        $sudo systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
}

# Build the targets "$@" with CMAKE_BUILD_TYPE=Release into $VOEPY_BUILD_DIR
# (default build-bench, exported for bench.py).
bench_build() {
    export VOEPY_BUILD_DIR=${VOEPY_BUILD_DIR:-build-bench}
    cmake -S . -B "$VOEPY_BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$VOEPY_BUILD_DIR" --target "$@" -j"${JOBS:-2}" >/dev/null
}
