package main

import "testing"

// The engine matches the plugin to @pulumi/command 1.2.1 by this version.
func TestDefaultVersion(t *testing.T) {
	if Version != "1.2.1" {
		t.Fatalf("Version = %q, want 1.2.1", Version)
	}
}
