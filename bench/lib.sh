# Shared by the end-to-end bench scripts (compare.sh, workers.sh, profile.sh); sourced from the
# repository root.

# bench_two_hosts PREFIX: builds the four programs a node runs in $BUILD_DIR (unless $NO_BUILD is
# 1), points tools/netns/lib.sh at them and sets up its two-host topology (hosts 1 and 2
# joined through one bridge, everything removed on exit).
bench_two_hosts() {
  # Only those four: an unrelated target that does not build must not stop a measurement.
  if ((!NO_BUILD)); then
    [[ -f $BUILD_DIR/build.ninja ]] ||
      meson setup "$BUILD_DIR" --buildtype=release >/dev/null || exit 1
    ninja -C "$BUILD_DIR" tools/ipop-node tools/ipopctl dataplane/ipop-dataplane \
      controlplane/ipop-controlplane >/dev/null || exit 1
  fi
  [[ $BUILD_DIR = /* ]] || BUILD_DIR=$PWD/$BUILD_DIR
  export IPOP_BUILD=$BUILD_DIR
  source tools/netns/lib.sh
  net_require
  net_init "$1"
  net_add_host 1
  net_add_host 2
}
