#!/bin/sh
# Fails when the tracker outgrows its budget: web/widget/emma.js must stay under
# 4 KB gzipped (it is loaded on every page of every shop).
set -eu
cd "$(dirname "$0")/.."
file=web/widget/emma.js
max=${EMMA_JS_MAX_GZ:-4096}
raw=$(wc -c < "$file")
gz=$(gzip -9c "$file" | wc -c)
echo "$file: $raw bytes, $gz gzipped (budget $max)"
if [ "$gz" -ge "$max" ]; then
	echo "$file is over budget by $((gz - max + 1)) bytes gzipped" >&2
	exit 1
fi
