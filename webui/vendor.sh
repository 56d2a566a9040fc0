#!/usr/bin/env bash
# Refreshes the chat page's third-party libraries in static/vendor/ from
# npm at the pinned versions below, then checks every vendored file
# against vendor.sha256. The files are committed: the page needs no
# network and no build step at run time, and this script is only run by
# hand to update them (change a version, run it with --update-sums, and
# review the diff).
#
#   ./vendor.sh               fetch, copy, verify against vendor.sha256
#   ./vendor.sh --check       verify the committed files only (no network)
#   ./vendor.sh --update-sums fetch, copy, rewrite vendor.sha256
set -euo pipefail
cd "$(dirname "$0")"

MARKED=18.2.1
DOMPURIFY=3.4.18
HIGHLIGHT=11.12.0 # @highlightjs/cdn-assets: highlight.js's browser build

dst=static/vendor
mode=${1:-}

verify() {
  (cd "$dst" && sha256sum --quiet -c ../../vendor.sha256)
  echo "vendor: all files match vendor.sha256"
}

if [ "$mode" = "--check" ]; then
  verify
  exit
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "marked@$MARKED" "dompurify@$DOMPURIFY" "@highlightjs/cdn-assets@$HIGHLIGHT" >/dev/null)

# take TARBALL FILE-IN-PACKAGE NAME-IN-VENDOR
take() {
  rm -rf "$tmp/x" && mkdir "$tmp/x"
  tar -xzf "$tmp/$1" -C "$tmp/x" "package/$2"
  cp "$tmp/x/package/$2" "$dst/$3"
}

mkdir -p "$dst"
take "marked-$MARKED.tgz" lib/marked.umd.js marked.umd.js
take "marked-$MARKED.tgz" LICENSE marked.LICENSE
take "dompurify-$DOMPURIFY.tgz" dist/purify.min.js purify.min.js
take "dompurify-$DOMPURIFY.tgz" LICENSE dompurify.LICENSE
take "dompurify-$DOMPURIFY.tgz" LICENSE-MPL dompurify.LICENSE-MPL
take "highlightjs-cdn-assets-$HIGHLIGHT.tgz" highlight.min.js highlight.min.js
take "highlightjs-cdn-assets-$HIGHLIGHT.tgz" styles/github.min.css highlight-github.min.css
take "highlightjs-cdn-assets-$HIGHLIGHT.tgz" styles/github-dark.min.css highlight-github-dark.min.css
take "highlightjs-cdn-assets-$HIGHLIGHT.tgz" LICENSE highlight.js.LICENSE

if [ "$mode" = "--update-sums" ]; then
  (cd "$dst" && sha256sum -- * | LC_ALL=C sort -k2) > vendor.sha256
  echo "vendor: wrote vendor.sha256"
fi
verify
