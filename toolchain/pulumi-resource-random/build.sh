#!/usr/bin/env bash
# pulumi-resource-random: the upstream Terraform random provider served through the Pulumi Terraform bridge.
#   bash build.sh OUTDIR
# 1. builds cmd/tfgen into a temp dir and runs `tfgen schema` there (schema.json, bridge-metadata.json),
#    then checks the schema with ../shared/checkschema (the tokens @pulumi/random uses, secret outputs);
# 2. builds OUTDIR/pulumi-resource-random with both embedded: `go build -overlay` substitutes the
#    generated files for the committed placeholders in gen/, so nothing is written to the source tree.
source "$(dirname "$0")/../lib.sh"
PLUGIN=random
UPSTREAM=github.com/terraform-providers/terraform-provider-random # the Terraform provider it serves (through ./shim)
VERSION=4.21.2 # the version of the @pulumi/random SDK this plugin serves (package.json pins it)
CHECKS=(
  random:index/randomBytes:RandomBytes
  random:index/randomId:RandomId
  random:index/randomInteger:RandomInteger
  random:index/randomPassword:RandomPassword
  random:index/randomPet:RandomPet
  random:index/randomShuffle:RandomShuffle
  random:index/randomString:RandomString
  random:index/randomUuid:RandomUuid
  random:index/randomUuid4:RandomUuid4
  random:index/randomUuid7:RandomUuid7
  'random:index/randomPassword:RandomPassword:result!secret'
  'random:index/randomPassword:RandomPassword:bcryptHash!secret'
  'random:index/randomBytes:RandomBytes:base64!secret'
  'random:index/randomBytes:RandomBytes:hex!secret'
)

# The steps, shared with the other bridged plugin:
source "$(dirname "$0")/../shared/bridged.sh"
