// The shim's module path sits under the upstream provider's path, so Go lets it import the upstream
// internal/provider package (an internal package is importable from within the tree rooted at its
// parent). It is a local module: ../go.mod requires it at v0.0.0 and replaces it with ./shim.
module github.com/hashicorp/terraform-provider-tls/shim

go 1.25.8

require (
	github.com/hashicorp/terraform-plugin-framework v1.19.0
	github.com/hashicorp/terraform-provider-tls v1.2.1-0.20260819085117-d044ca7c6f52
)
