# shellcheck shell=bash disable=SC2034
# Go module versions that package.json cannot give directly, keyed by the
# released (npm) version they belong to. Sourced by scripts/toolchain.sh.
#
# When a pin is missing for the version in package.json, toolchain.sh records
# the component as "unavailable" (with this file named in the reason) instead
# of guessing.

# @pulumi/command release -> version of github.com/pulumi/pulumi-command/provider
# (the module has no semver tags; this is the pseudo-version of the release commit).
declare -gA K8SCP_PIN_COMMAND_PROVIDER=(
  [1.2.1]=v0.0.0-20260303235922-7f3eb6f3b77c
)

# @pulumi/pulumi release -> version of
# github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3 (the
# pseudo-version of the release commit). Without a pin, toolchain.sh asks the
# proxy for the release commit of sdk/v3 (its .info "Origin") and queries the
# language host at that commit.
declare -gA K8SCP_PIN_LANGUAGE_NODEJS=(
)
