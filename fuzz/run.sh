#!/usr/bin/env bash
# Runs every fuzz target for SECS seconds each (default 600), one at a time, at low priority,
# then minimises its corpus in place (inputs cut to 512 bytes, so the kept corpus stays
# small). Usage: fuzz/run.sh [SECS]. Needs the nightly toolchain and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
bin=fuzz/target/x86_64-unknown-linux-gnu/release
for t in webhook_signature json_body phone_normalise template_render; do
  mkdir -p "fuzz/corpus/$t"
  log=$(mktemp)
  if ! nice -n 19 cargo +nightly fuzz run "$t" --sanitizer none --debug-assertions "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    exit 1
  fi
  grep -E "INITED|DONE|^Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added)" "$log" || true
  rm -f "$log"
  min=$(mktemp -d)
  nice -n 19 "$bin/$t" -merge=1 -max_len=512 "$min" "fuzz/corpus/$t" 2>&1 | grep -E "MERGE-OUTER: [0-9]+ new files" || true
  rm -rf "fuzz/corpus/$t" && mv "$min" "fuzz/corpus/$t"
done
