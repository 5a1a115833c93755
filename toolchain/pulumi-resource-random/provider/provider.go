// Package provider maps the upstream Terraform random provider to Pulumi: the same package name,
// version and tokens as the official pulumi-random plugin that @pulumi/random talks to.
package provider

import (
	"context"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"

	"github.com/terraform-providers/terraform-provider-random/shim"
)

// Name is the Pulumi package name.
const Name = "random"

// Version is the plugin version (that of the @pulumi/random SDK it serves); build.sh sets it with -X.
var Version = "4.21.2"

// Info is the bridge's description of the provider. metadata is the bridge-metadata.json that
// tfgen wrote (nil while tfgen itself runs: it fills a fresh one).
func Info(metadata []byte) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.NewProvider()),
		Name:         Name,
		Version:      Version,
		DisplayName:  "random",
		Description:  "A Pulumi package to safely use randomness in Pulumi programs.",
		Keywords:     []string{"pulumi", "random"},
		License:      "Apache-2.0",
		Homepage:     "https://pulumi.io",
		Repository:   "https://github.com/pulumi/pulumi-random",
		Publisher:    "Pulumi",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Resources: map[string]*tfbridge.ResourceInfo{
			// random_bytes has no id attribute: like pulumi-random, use its base64 value.
			"random_bytes": {ComputeID: randomBytesID},
		},
	}
	// The official tokens keep the "Random" prefix: random_id -> random:index/randomId:RandomId,
	// random_password -> random:index/randomPassword:RandomPassword.
	standard := tokens.MakeStandard(Name)
	info.MustComputeTokens(tokens.SingleModule("random_", "index", func(module, name string) (string, error) {
		return standard(module, "Random"+name)
	}))
	return info
}

func randomBytesID(_ context.Context, state resource.PropertyMap) (resource.ID, error) {
	b, ok := state["base64"]
	if !ok {
		return "", fmt.Errorf("random_bytes: no base64 property in the state")
	}
	if b.IsSecret() { // base64 is Sensitive, so a secret; an ID cannot be one
		b = b.SecretValue().Element
	}
	if !b.IsString() {
		return "", fmt.Errorf("random_bytes: base64 is not a string")
	}
	return resource.ID(b.StringValue()), nil
}
