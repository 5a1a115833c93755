// Package remote implements `command:remote:Command` and `command:remote:CopyToRemote`,
// wire-compatible with the @pulumi/command 1.2.1 SDK. The Go package name gives the
// resource tokens their module, "remote".
package remote

import (
	"context"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi-go-provider/middleware/schema"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Name is the provider's package name.
const Name = "command"

// NewProvider returns the provider with both remote resources.
func NewProvider() p.Provider {
	prov := infer.Provider(infer.Options{
		Metadata: schema.Metadata{
			DisplayName: "Command",
			Description: "Runs commands and copies files on remote hosts over SSH " +
				"(a compatible subset of pulumi-command).",
			Keywords: []string{"pulumi", "command", "category/utility", "kind/native"},
			License:  "Apache-2.0",
		},
		Resources: []infer.InferredResource{
			infer.Resource(&Command{}),
			infer.Resource(&CopyToRemote{}),
		},
	})
	prov.Diff = replaceOnTriggers(prov.Diff)
	return prov
}

// replaceOnTriggers makes every change under `triggers` a replacement. infer marks only a
// change of the property as a whole; changed, added or removed elements ("triggers[0]") would
// otherwise show as in-place updates.
func replaceOnTriggers(
	diff func(context.Context, p.DiffRequest) (p.DiffResponse, error),
) func(context.Context, p.DiffRequest) (p.DiffResponse, error) {
	return func(ctx context.Context, req p.DiffRequest) (p.DiffResponse, error) {
		resp, err := diff(ctx, req)
		if err != nil {
			return resp, err
		}
		for k, d := range resp.DetailedDiff {
			path, err := presource.ParsePropertyPath(k)
			if err != nil || len(path) == 0 || path[0] != "triggers" {
				continue
			}
			switch d.Kind {
			case p.Add:
				d.Kind = p.AddReplace
			case p.Delete:
				d.Kind = p.DeleteReplace
			case p.Update:
				d.Kind = p.UpdateReplace
			}
			resp.DetailedDiff[k] = d
		}
		return resp, nil
	}
}
