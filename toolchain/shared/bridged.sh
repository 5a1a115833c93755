# shellcheck shell=bash
# The build of a bridged plugin (the upstream Terraform provider through pulumi-terraform-bridge), shared by
# toolchain/pulumi-resource-{tls,random}/build.sh, which source lib.sh, set PLUGIN, UPSTREAM, VERSION and
# CHECKS (tokens and secret outputs the npm SDK relies on), then source this file.
cd "$(dirname "$0")" # lib.sh made OUTDIR absolute
MOD="$(go list -m)"
if [ -f ../../package.json ]; then
  pinned="$(sed -n "s/^ *\"@pulumi\/$PLUGIN\": *\"\([^\"]*\)\".*/\1/p" ../../package.json | head -n1)"
  if [ -n "$pinned" ] && [ "$pinned" != "$VERSION" ]; then
    tc_log "FAILED: package.json pins @pulumi/$PLUGIN $pinned but build.sh builds $VERSION; make them agree"
    exit 1
  fi
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
ld="-s -w -X $MOD/provider.Version=$VERSION"
tc_log "upstream $UPSTREAM $(tc_version "$UPSTREAM"), bridge $(tc_version github.com/pulumi/pulumi-terraform-bridge/v3), plugin version $VERSION"
tc_log "go build ./cmd/tfgen ../shared/checkschema (into a temp dir)"
go build -trimpath -ldflags "$ld" -o "$tmp/tfgen" ./cmd/tfgen
(cd ../shared/checkschema && go build -trimpath -o "$tmp/checkschema" .)
# Run from here: tfgen finds the upstream docs (descriptions) with `go mod download -json` in ./provider.
# Examples are skipped: converting them needs the pulumi-converter-terraform plugin, and the plugin
# only serves the schema.
tc_log "tfgen schema"
"$tmp/tfgen" schema --skip-examples --out "$tmp/gen" >"$tmp/tfgen.log" 2>&1 || {
  tail -n 40 "$tmp/tfgen.log"
  tc_log "FAILED: tfgen schema"
  exit 1
}
for f in schema.json bridge-metadata.json; do
  [ -s "$tmp/gen/$f" ] || {
    tc_log "FAILED: tfgen wrote no $f"
    exit 1
  }
done
checked="$("$tmp/checkschema" "$tmp/gen/schema.json" "$PLUGIN" "${CHECKS[@]}")"
tc_log "$checked"
printf '{"Replace":{"%s":"%s","%s":"%s"}}\n' \
  "$PWD/gen/schema.json" "$tmp/gen/schema.json" \
  "$PWD/gen/bridge-metadata.json" "$tmp/gen/bridge-metadata.json" >"$tmp/overlay.json"
tc_log "go build -overlay (generated schema) -o $TC_OUT/pulumi-resource-$PLUGIN ."
go build -trimpath -overlay "$tmp/overlay.json" -ldflags "$ld" -o "$TC_OUT/pulumi-resource-$PLUGIN" .
tc_expect "$VERSION" "$TC_OUT/pulumi-resource-$PLUGIN" -version
