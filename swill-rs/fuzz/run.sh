#!/usr/bin/env bash
# Runs swill's fuzz targets (libFuzzer through cargo fuzz), one after another.
#
#   swill-rs/fuzz/run.sh [SECONDS] [TARGET...]   each target for SECONDS (default 60)
#   swill-rs/fuzz/run.sh --merge [TARGET...]     re-minimise corpus/<target> with what runs found
#   swill-rs/fuzz/run.sh --seed                  seed corpus/{decode,payload} from docs/vectors.json
#
# Targets: decode, payload, server, client (all by default). Each run starts from the
# committed corpus/<target> and writes new inputs to target/corpus/<target> (not committed);
# --merge keeps at most SWILL_FUZZ_CORPUS_MAX (48) files of both, chosen greedily by edge
# coverage, in corpus/<target>. A crash stops the
# run and leaves its input in artifacts/<target>/; copy it into regressions/<target>/ so the
# plain test harness replays it (see docs/reliability.md).
#
# cargo fuzz passes nightly-only flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them, so no nightly toolchain is needed. Installs cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
all=(decode payload server client)

if ! command -v cargo-fuzz >/dev/null; then
  cargo install cargo-fuzz --locked
fi

case "${1:-}" in
  --seed)
    SWILL_FUZZ_SEEDS="$(pwd)/corpus" cargo test --no-default-features --test corpus \
      -- --ignored write_seeds
    exit 0
    ;;
  --merge)
    shift
    targets=("$@")
    [ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
    host=$(rustc -vV | sed -n 's/^host: //p')
    for t in "${targets[@]}"; do
      mkdir -p "target/corpus/$t" "corpus/$t"
      cargo fuzz build "$t"
      ctl=$(mktemp) scratch=$(mktemp -d) fresh=$(mktemp -d)
      # Every file's edges (no hit counters, no value profile) into the control file, then a
      # greedy set cover capped at SWILL_FUZZ_CORPUS_MAX files (cover.awk).
      "target/$host/release/$t" -set_cover_merge=1 -merge_control_file="$ctl" \
        -use_counters=0 -use_value_profile=0 -rss_limit_mb=2048 \
        "$scratch" "corpus/$t" "target/corpus/$t" 2>&1 | tail -n 1
      awk -v CAP="${SWILL_FUZZ_CORPUS_MAX:-48}" -f cover.awk "$ctl" | while read -r f; do
        cp "$f" "$fresh/$(sha1sum "$f" | cut -d ' ' -f 1)"
      done
      rm -rf "corpus/$t" "$scratch" "$ctl"
      mv "$fresh" "corpus/$t"
      echo "corpus/$t: $(find "corpus/$t" -type f | wc -l) files"
    done
    exit 0
    ;;
esac

secs=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  mkdir -p "target/corpus/$t"
  echo "==> fuzzing $t for ${secs}s"
  cargo fuzz run "$t" "target/corpus/$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
