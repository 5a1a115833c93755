// checkschema SCHEMA VERSION TOKEN... [TOKEN:PROPERTY!secret...]: a build-time check of a generated
// Pulumi schema: it must name the package, define each TOKEN (a resource or function), and mark each
// TOKEN:PROPERTY! output secret. build.sh runs it before embedding the schema.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type property struct {
	Secret bool `json:"secret"`
}

type resource struct {
	Properties map[string]property `json:"properties"`
}

type schema struct {
	Name      string                     `json:"name"`
	Resources map[string]resource        `json:"resources"`
	Functions map[string]json.RawMessage `json:"functions"`
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: checkschema SCHEMA NAME TOKEN... TOKEN:PROPERTY!secret...")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	var s schema
	if err := json.Unmarshal(data, &s); err != nil {
		fail("%s: %v", os.Args[1], err)
	}
	if s.Name != os.Args[2] {
		fail("schema name %q, want %q", s.Name, os.Args[2])
	}
	for _, arg := range os.Args[3:] {
		if spec, ok := strings.CutSuffix(arg, "!secret"); ok {
			i := strings.LastIndex(spec, ":")
			tok, prop := spec[:i], spec[i+1:]
			p, ok := s.Resources[tok].Properties[prop]
			if !ok {
				fail("%s has no output %s", tok, prop)
			}
			if !p.Secret {
				fail("%s.%s is not marked secret", tok, prop)
			}
			continue
		}
		_, isResource := s.Resources[arg]
		_, isFunction := s.Functions[arg]
		if !isResource && !isFunction {
			fail("schema has no %s", arg)
		}
	}
	fmt.Printf("schema %s: %d resources, %d functions; all %d checks passed\n",
		s.Name, len(s.Resources), len(s.Functions), len(os.Args)-3)
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "checkschema: "+format+"\n", a...)
	os.Exit(1)
}
