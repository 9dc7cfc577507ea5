#!/usr/bin/env bash
# Builds hna-fuzz with libFuzzer + AddressSanitizer and runs every parser's fuzz target in turn.
#   scripts/fuzz.sh                 all targets, 60 s each
#   scripts/fuzz.sh 10 ipv4 udp     10 s each, only these targets
# Corpora grow in fuzz-corpus/<target>/, crashes land in fuzz-artifacts/ (both git-ignored).
# Reproduce a crash without libFuzzer: HNA_FUZZ_TARGET=<target> swift run hna-fuzz <crash-file>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
# (ld.gold warns about every sanitizer symbol it cannot export; those lines are noise.)
if ! swift build --scratch-path .build-fuzz --product hna-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -DHNA_LIBFUZZER -Xswiftc -parse-as-library \
    > .build-fuzz.log 2>&1; then
  grep -v "Cannot export local symbol" .build-fuzz.log
  exit 1
fi
bin=.build-fuzz/debug/hna-fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # The list lives in one place: ParserChecks.all. Ask the binary built without libFuzzer... or parse it.
  mapfile -t targets < <(grep -oE 'roundTrip\("[a-z0-9]+"|Check\(name: "[a-z0-9]+"' Sources/HNAWire/Dissect/ParserChecks.swift | grep -oE '"[a-z0-9]+"' | tr -d '"')
fi
mkdir -p fuzz-artifacts
status=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz-corpus/$t"
  echo "== $t (${seconds}s)"
  if ! HNA_FUZZ_TARGET="$t" "$bin" "fuzz-corpus/$t" -max_total_time="$seconds" -max_len=4096 \
       -artifact_prefix="fuzz-artifacts/$t-" -print_final_stats=1 2>&1 | grep -E "stat::number_of_executed_units|ERROR|oracle|Done" ; then
    status=1
  fi
done
exit $status
