#!/usr/bin/env bash
# Assemble README.md from docs/readme-head.md and the reference pages, each page's
# headings moved one level down.
set -euo pipefail
cd "$(dirname "$0")/.."
{
  cat docs/readme-head.md
  for page in config cluster member snapshot continuous s3 encryption restore restore-prefix maint registry registry-heartbeat metrics daemon agent install; do
    f=docs/reference/$page.md
    [ -f "$f" ] || continue
    echo
    # shift so the page's top heading is "##" (code blocks are left alone)
    min=$(awk '/^```/{c=!c} !c && /^#+ /{n=index($0," ")-1; if(!m||n<m)m=n} END{print m+0}' "$f")
    # and links relative to docs/reference/ made relative to the top, where README.md is
    awk -v shift=$((2 - min)) '/^```/{c=!c} !c && /^#+ /{n=index($0," ")-1; h=""; for(i=0;i<n+shift;i++)h=h "#"; $0=h substr($0,n+1)}
      !c {gsub(/\]\(\.\.\//, "](docs/"); gsub(/\]\([A-Za-z0-9_-]+\.md/, "]\001&"); gsub(/\001\]\(/, "(docs/reference/")} {print}' "$f"
  done
} >README.md
