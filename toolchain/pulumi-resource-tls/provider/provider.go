// Package provider maps the upstream Terraform TLS provider to Pulumi: the same package name,
// version and tokens as the official pulumi-tls plugin that @pulumi/tls talks to.
package provider

import (
	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"

	"github.com/hashicorp/terraform-provider-tls/shim"
)

// Name is the Pulumi package name.
const Name = "tls"

// Version is the plugin version (that of the @pulumi/tls SDK it serves); build.sh sets it with -X.
var Version = "5.6.1"

// Info is the bridge's description of the provider. metadata is the bridge-metadata.json that
// tfgen wrote (nil while tfgen itself runs: it fills a fresh one).
func Info(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.NewProvider()),
		Name:         Name,
		Version:      Version,
		DisplayName:  "TLS",
		Description:  "A Pulumi package to create TLS resources in Pulumi programs.",
		Keywords:     []string{"pulumi", "tls"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-tls",
		Publisher:    "Pulumi",
		GitHubOrg:    "hashicorp",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
	}
	// tls_private_key -> tls:index/privateKey:PrivateKey, tls_public_key -> tls:index/getPublicKey:getPublicKey.
	info.MustComputeTokens(tokens.SingleModule("tls_", "index", tokens.MakeStandard(Name)))
	return info
}
