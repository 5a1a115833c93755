// Package shim exposes the upstream Terraform TLS provider (a terraform-plugin-framework provider)
// to the Pulumi bridge.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	upstream "github.com/hashicorp/terraform-provider-tls/internal/provider"
)

// NewProvider returns a new instance of the upstream provider (internal/provider.New).
func NewProvider() provider.Provider { return upstream.New() }
