// The build-time generator: `tfgen schema --out DIR` writes schema.json and bridge-metadata.json,
// which build.sh embeds into pulumi-resource-random.
package main

import (
	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"

	"k8scp.local/toolchain/pulumi-resource-random/provider"
)

func main() { pftfgen.Main(provider.Name, provider.Info(nil)) }
