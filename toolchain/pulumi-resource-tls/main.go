// pulumi-resource-tls: the upstream Terraform TLS provider served as the Pulumi resource plugin
// "tls" through the Pulumi Terraform bridge. Build it with build.sh: it generates the schema and
// bridge metadata with cmd/tfgen and embeds them (gen/ holds only placeholders in git).
package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"

	"k8scp.local/toolchain/pulumi-resource-tls/provider"
)

//go:embed gen/schema.json
var schema []byte

//go:embed gen/bridge-metadata.json
var metadata []byte

func main() {
	if len(schema) < 100 {
		fmt.Fprintln(os.Stderr, "pulumi-resource-tls was built without its generated schema: build it with build.sh")
		os.Exit(1)
	}
	pftfbridge.Main(context.Background(), provider.Name, provider.Info(metadata),
		pftfbridge.ProviderMetadata{PackageSchema: schema})
}
