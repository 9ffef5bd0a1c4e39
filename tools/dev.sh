#!/usr/bin/env bash
# Developer entry point: setup | build | test | run.
#   tools/dev.sh setup   apt-installs the Debian packages the build and tests need (only missing ones)
#   tools/dev.sh build   configures (once) and builds build/ incrementally (RelWithDebInfo)
#   tools/dev.sh test    setup + build + every test with ctest, then the storage, group
#                        coordinator and Kafka codec tests under ASan+UBSan, then each fuzz
#                        target for 30 s (tools/fuzz.sh)
#   tools/dev.sh run     setup + build + start sluiced on the defaults (./data, Kafka address
#                        127.0.0.1:9092, native 127.0.0.1:9192, HTTP 127.0.0.1:9644); extra
#                        arguments go to sluiced
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  g++ cmake ninja-build pkg-config
  libasio-dev libprotobuf-dev protobuf-compiler librocksdb-dev libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libisal-dev libcli11-dev libtomlplusplus-dev
  libspdlog-dev zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev
)
# Only for the tests: the Kafka clients of the compatibility tests (tests/compat). Node and npm
# for kafkajs are checked in setup_test(), since a machine may have them from outside Debian.
TEST_PACKAGES=(
  librdkafka-dev kcat python3-kafka python3-confluent-kafka
  golang-go golang-github-shopify-sarama-dev
  clang libclang-rt-14-dev
)
JOBS=${JOBS:-$(nproc)}

# install_missing PACKAGE... : apt-installs those not installed yet.
install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "dev.sh: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

setup() { install_missing "${PACKAGES[@]}"; }

setup_test() {
  setup
  local extra=("${TEST_PACKAGES[@]}")
  # Debian's nodejs and npm only where there is no node or npm at all: replacing another
  # install's node would break it.
  command -v node >/dev/null || extra+=(nodejs)
  command -v npm >/dev/null || extra+=(npm)
  install_missing "${extra[@]}"
  # kafkajs for tests/compat, exactly as its package-lock.json pins it; again only when
  # node_modules is missing or older than the lock file.
  local kj=tests/compat/kafkajs
  if [ ! -f "$kj/node_modules/.package-lock.json" ] ||
     [ "$kj/package-lock.json" -nt "$kj/node_modules/.package-lock.json" ]; then
    echo "dev.sh: npm ci in $kj"
    (cd "$kj" && npm ci --ignore-scripts --no-audit --no-fund)
  fi
}

# configure DIR BUILD_TYPE
configure() {
  if [ ! -f "$1/build.ninja" ]; then
    cmake -S . -B "$1" -G Ninja -DCMAKE_BUILD_TYPE="$2"
  fi
}

build() {
  configure build RelWithDebInfo
  cmake --build build -j "$JOBS"
}

test_all() {
  setup_test
  # Re-configure every time (cheap; the build stays incremental): a build/ first configured by
  # `run`, before the test-only packages were installed, then finds them, and a missing one is
  # an error instead of a test that is silently not built.
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_REQUIRE_TEST_DEPS=ON
  build
  (cd build && ctest --output-on-failure -j "$JOBS" --timeout 600)
  # The storage and group-coordinator tests again under AddressSanitizer + UBSan.
  configure build-asan Sanitize
  cmake --build build-asan -j "$JOBS" --target storage_tests group_coordinator_test \
    kafka_message_tests
  (cd build-asan && ctest --output-on-failure -j "$JOBS" --timeout 900 -L 'storage|broker')
  # Every libFuzzer target for 30 s (clang, ASan + UBSan, in build-fuzz/); tests/fuzz/README.md.
  tools/fuzz.sh --seconds 30
}

run() {
  setup
  build
  exec build/bin/sluiced "$@"
}

case "${1:-}" in
  setup) setup_test ;;
  build) setup; build ;;
  test) test_all ;;
  run) shift; run "$@" ;;
  *) echo "usage: tools/dev.sh setup|build|test|run" >&2; exit 2 ;;
esac
