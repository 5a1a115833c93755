package remote

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
)

// The tokens and wire shapes must be those @pulumi/command 1.2.1 registers.
func TestSchemaMatchesTheSDK(t *testing.T) {
	h := newHarness(t)
	resp, err := h.s.GetSchema(p.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Name      string `json:"name"`
		Resources map[string]struct {
			InputProperties map[string]struct {
				Secret           bool `json:"secret"`
				ReplaceOnChanges bool `json:"replaceOnChanges"`
			} `json:"inputProperties"`
			Properties     map[string]json.RawMessage `json:"properties"`
			RequiredInputs []string                   `json:"requiredInputs"`
		} `json:"resources"`
		Types map[string]struct {
			Properties map[string]struct {
				Default any  `json:"default"`
				Secret  bool `json:"secret"`
			} `json:"properties"`
			Enum []struct {
				Value string `json:"value"`
			} `json:"enum"`
		} `json:"types"`
	}
	if err := json.Unmarshal([]byte(resp.Schema), &schema); err != nil {
		t.Fatal(err)
	}
	if schema.Name != "command" {
		t.Errorf("package name %q", schema.Name)
	}
	wantRequired := map[string][]string{
		"command:remote:Command":      {"connection"},
		"command:remote:CopyToRemote": {"connection", "remotePath", "source"},
	}
	want := map[string][]string{
		"command:remote:Command": {"connection", "create", "update", "delete", "triggers", "stdin",
			"environment", "logging", "addPreviousOutputInEnv"},
		"command:remote:CopyToRemote": {"connection", "source", "remotePath", "triggers"},
	}
	if len(schema.Resources) != len(want) {
		t.Errorf("resources: %v", schema.Resources)
	}
	for tok, inputs := range want {
		r, ok := schema.Resources[tok]
		if !ok {
			t.Errorf("no resource %s", tok)
			continue
		}
		required := append([]string(nil), r.RequiredInputs...)
		sort.Strings(required)
		if !reflect.DeepEqual(required, wantRequired[tok]) {
			t.Errorf("%s: required inputs %q, want %q", tok, required, wantRequired[tok])
		}
		for _, in := range inputs {
			if _, ok := r.InputProperties[in]; !ok {
				t.Errorf("%s: no input %q", tok, in)
			}
		}
		if !r.InputProperties["connection"].Secret || !r.InputProperties["triggers"].ReplaceOnChanges {
			t.Errorf("%s: connection secret=%v, triggers replaceOnChanges=%v", tok,
				r.InputProperties["connection"].Secret, r.InputProperties["triggers"].ReplaceOnChanges)
		}
	}
	for _, out := range []string{"stdout", "stderr"} {
		if _, ok := schema.Resources["command:remote:Command"].Properties[out]; !ok {
			t.Errorf("Command: no output %q", out)
		}
	}
	conn := schema.Types["command:remote:Connection"]
	if conn.Properties["port"].Default != float64(22) || conn.Properties["user"].Default != "root" ||
		conn.Properties["dialErrorLimit"].Default != float64(10) || conn.Properties["perDialTimeout"].Default != float64(15) {
		t.Errorf("connection defaults: %+v", conn.Properties)
	}
	if !conn.Properties["privateKey"].Secret || !conn.Properties["password"].Secret {
		t.Error("connection credentials are not secret")
	}
	if _, ok := schema.Types["command:remote:ProxyConnection"]; !ok {
		t.Error("no command:remote:ProxyConnection type")
	}
	var values []string
	for _, e := range schema.Types["command:remote:Logging"].Enum {
		values = append(values, e.Value)
	}
	if len(values) != 4 {
		t.Errorf("Logging enum: %v", values)
	}
}
