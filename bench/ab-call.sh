#!/usr/bin/env bash
# A/B for call setup: `bench/ab-call.sh REF [RUNS]` runs `npm run bench:call` RUNS times (4 by
# default) for the working tree and for git REF, alternating, with the same bench code, and
# prints each run's ratios and the medians. Single runs swing ±15% on a small machine; two
# builds alternated in one session are what tells a change from noise.
#
# REF is built in a temporary git worktree; its guest page and e2e extension build are swapped
# into build/guest and dist-e2e for its runs (the working tree's own builds are put back at the
# end). On a shared machine the bench runs take /tmp/parley-bench.lock.
set -euo pipefail
ref=${1:?usage: bench/ab-call.sh REF [RUNS]}
runs=${2:-4}
top=$(git rev-parse --show-toplevel)
cd "$top"
tmp=$(mktemp -d)
cleanup() {
  git worktree remove --force "$tmp/ref" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "building the working tree and $ref…" >&2
npm run build >/dev/null && npm run build:ext:e2e >/dev/null
mkdir -p "$tmp/current" && cp -r build/guest dist-e2e "$tmp/current/"
git worktree add --quiet --detach "$tmp/ref" "$ref"
ln -s "$top/node_modules" "$tmp/ref/node_modules"
(cd "$tmp/ref" && npm run build >/dev/null && npm run build:ext:e2e >/dev/null)
mkdir -p "$tmp/other" && cp -r "$tmp/ref/build/guest" "$tmp/ref/dist-e2e" "$tmp/other/"

use() {
  rm -rf build/guest dist-e2e
  cp -r "$tmp/$1/guest" build/guest
  cp -r "$tmp/$1/dist-e2e" dist-e2e
}

results="$tmp/results"
for i in $(seq 1 "$runs"); do
  for variant in current other; do
    use "$variant"
    out=$(CALLS=${CALLS:-10} flock /tmp/parley-bench.lock npm run --silent bench:call 2>/dev/null)
    echo "$variant $(echo "$out" | tail -1)" | tee -a "$results" >&2
    # Every call's figures too, for the pooled medians.
    echo "$out" | sed -n "s/^ *\(bare\|parley\) call [0-9]*: link→video \([0-9]*\) ms, join→connected \([0-9]*\) ms$/$variant \1 \2 \3/p" >>"$results.calls"
  done
done
use current

node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n");
const by = {};
for (const l of lines) {
  const [v, json] = [l.slice(0, l.indexOf(" ")), l.slice(l.indexOf(" ") + 1)];
  const r = JSON.parse(json);
  (by[v] ??= []).push([r.ours_link_to_video_ms / r.bare_link_to_video_ms, r.ours_join_to_connected_ms / r.bare_join_to_connected_ms]);
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
for (const [v, xs] of Object.entries(by)) {
  const name = v === "current" ? "working tree" : process.argv[2];
  console.log(`${name.padEnd(14)} link→video ${median(xs.map((x) => x[0])).toFixed(2)}×, join→connected ${median(xs.map((x) => x[1])).toFixed(2)}× (medians of ${xs.length} runs; per run: ${xs.map((x) => x[0].toFixed(2) + "/" + x[1].toFixed(2)).join(" ")})`);
}' "$results" "$ref"

# Pooled: the median of every call of every run, per side. Join → connected moves in steps of
# Chrome's ICE check pacing, so a run's median of ten calls jumps between steps; pooled
# medians of many calls are steadier than the median of per-run ratios.
node -e '
const by = {};
for (const l of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) {
  const [v, side, link, join] = l.split(" ");
  const o = ((by[v] ??= {})[side] ??= { link: [], join: [] });
  o.link.push(Number(link));
  o.join.push(Number(join));
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b), m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
for (const [v, s] of Object.entries(by)) {
  const name = v === "current" ? "working tree" : process.argv[2];
  const l = [median(s.parley.link), median(s.bare.link)], j = [median(s.parley.join), median(s.bare.join)];
  console.log(`${name.padEnd(14)} pooled over ${s.parley.link.length} calls: link→video ${l[0]} vs ${l[1]} ms (${(l[0] / l[1]).toFixed(2)}×), join→connected ${j[0]} vs ${j[1]} ms (${(j[0] / j[1]).toFixed(2)}×)`);
}' "$results.calls" "$ref"
