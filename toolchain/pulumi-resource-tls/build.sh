#!/usr/bin/env bash
# pulumi-resource-tls: the upstream Terraform TLS provider served through the Pulumi Terraform bridge.
#   bash build.sh OUTDIR
# 1. builds cmd/tfgen into a temp dir and runs `tfgen schema` there (schema.json, bridge-metadata.json),
#    then checks the schema with ../shared/checkschema (the tokens @pulumi/tls uses, secret outputs);
# 2. builds OUTDIR/pulumi-resource-tls with both embedded: `go build -overlay` substitutes the
#    generated files for the committed placeholders in gen/, so nothing is written to the source tree.
source "$(dirname "$0")/../lib.sh"
PLUGIN=tls
UPSTREAM=github.com/hashicorp/terraform-provider-tls # the Terraform provider it serves (through ./shim)
VERSION=5.6.1 # the version of the @pulumi/tls SDK this plugin serves (package.json pins it)
CHECKS=(
  tls:index/privateKey:PrivateKey
  tls:index/selfSignedCert:SelfSignedCert
  tls:index/certRequest:CertRequest
  tls:index/locallySignedCert:LocallySignedCert
  tls:index/getPublicKey:getPublicKey
  tls:index/getCertificate:getCertificate
  'tls:index/privateKey:PrivateKey:privateKeyPem!secret'
  'tls:index/privateKey:PrivateKey:privateKeyPemPkcs8!secret'
  'tls:index/privateKey:PrivateKey:privateKeyOpenssh!secret'
  'tls:index/selfSignedCert:SelfSignedCert:privateKeyPem!secret'
  'tls:index/locallySignedCert:LocallySignedCert:caPrivateKeyPem!secret'
)

# The steps, shared with the other bridged plugin:
source "$(dirname "$0")/../shared/bridged.sh"
