#!/usr/bin/env bash
# Runs every fuzz target for SECS seconds each (default 600), one at a time, at low priority,
# then minimises its corpus in place. Usage: fuzz/run.sh [SECS]. Needs nightly + cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
for t in webhook_signature json_body phone_normalise template_render; do
  mkdir -p "fuzz/corpus/$t"
  nice -n 19 cargo +nightly fuzz run "$t" --sanitizer none --debug-assertions "fuzz/corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 2>&1 | tail -n 25
  nice -n 19 cargo +nightly fuzz cmin "$t" --sanitizer none --debug-assertions "fuzz/corpus/$t" 2>&1 | tail -n 3
done
