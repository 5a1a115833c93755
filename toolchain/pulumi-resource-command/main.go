// Command pulumi-resource-command is a Pulumi resource provider plugin named "command",
// compatible with the remote resources of the @pulumi/command 1.2.1 SDK.
package main

import (
	"context"
	"fmt"
	"os"

	p "github.com/pulumi/pulumi-go-provider"

	"k8scp.local/toolchain/pulumi-resource-command/remote"
)

// Version is reported to the engine; build.sh sets it with -ldflags "-X main.Version=...".
var Version = "1.2.1"

func main() {
	// For build checks only; the engine starts plugins with its address as the argument.
	if len(os.Args) == 2 && os.Args[1] == "--version" {
		fmt.Println(Version)
		return
	}
	if err := p.RunProvider(context.Background(), remote.Name, Version, remote.NewProvider()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
