package remote

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	presource "github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

const (
	commandType = "command:remote:Command"
	copyType    = "command:remote:CopyToRemote"
)

// logCapture records every message the provider logs (in tests the provider logs through slog).
type logCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, r.Level.String()+" "+r.Message)
	return nil
}

func (c *logCapture) Text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.msgs, "\n")
}

// harness drives the provider the way the engine does: Check, then Create/Diff/Update/Delete
// with the checked inputs.
type harness struct {
	t    *testing.T
	s    integration.Server
	logs *logCapture
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	logs := &logCapture{}
	prev := slog.Default()
	slog.SetDefault(slog.New(logs))
	t.Cleanup(func() { slog.SetDefault(prev) })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	s, err := integration.NewServer(ctx, Name, semver.MustParse("1.2.1"), integration.WithProvider(NewProvider()))
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, s: s, logs: logs}
}

func urnOf(typ, name string) presource.URN {
	return presource.NewURN("test", "k8scp", "", tokens.Type(typ), name)
}

// resourceState is what the engine would keep for one resource.
type resourceState struct {
	typ, name string
	id        string
	inputs    property.Map // checked inputs
	outputs   property.Map
}

func (h *harness) check(typ, name string, inputs property.Map, olds property.Map) (property.Map, []p.CheckFailure) {
	h.t.Helper()
	resp, err := h.s.Check(p.CheckRequest{Urn: urnOf(typ, name), State: olds, Inputs: inputs})
	if err != nil {
		h.t.Fatalf("check %s: %v", name, err)
	}
	return resp.Inputs, resp.Failures
}

func (h *harness) mustCheck(typ, name string, inputs property.Map, olds property.Map) property.Map {
	h.t.Helper()
	checked, failures := h.check(typ, name, inputs, olds)
	if len(failures) > 0 {
		h.t.Fatalf("check %s failed: %+v", name, failures)
	}
	return checked
}

// preview runs a dry-run create and returns its outputs.
func (h *harness) preview(typ, name string, inputs property.Map) property.Map {
	h.t.Helper()
	checked := h.mustCheck(typ, name, inputs, property.Map{})
	resp, err := h.s.Create(p.CreateRequest{Urn: urnOf(typ, name), Properties: checked, DryRun: true})
	if err != nil {
		h.t.Fatalf("preview create %s: %v", name, err)
	}
	return resp.Properties
}

func (h *harness) create(typ, name string, inputs property.Map) (*resourceState, error) {
	h.t.Helper()
	checked := h.mustCheck(typ, name, inputs, property.Map{})
	resp, err := h.s.Create(p.CreateRequest{Urn: urnOf(typ, name), Properties: checked})
	if err != nil {
		if resp.ID != "" || resp.Properties.Len() != 0 || resp.PartialState != nil {
			h.t.Errorf("failed create of %s returned state: id=%q props=%v partial=%v",
				name, resp.ID, resp.Properties, resp.PartialState)
		}
		return nil, err
	}
	if resp.ID == "" {
		h.t.Fatalf("create %s returned no ID", name)
	}
	return &resourceState{typ: typ, name: name, id: resp.ID, inputs: checked, outputs: resp.Properties}, nil
}

func (h *harness) mustCreate(typ, name string, inputs property.Map) *resourceState {
	h.t.Helper()
	r, err := h.create(typ, name, inputs)
	if err != nil {
		h.t.Fatalf("create %s: %v", name, err)
	}
	return r
}

func (h *harness) diff(r *resourceState, inputs property.Map) (property.Map, p.DiffResponse) {
	h.t.Helper()
	checked := h.mustCheck(r.typ, r.name, inputs, r.inputs)
	resp, err := h.s.Diff(p.DiffRequest{
		ID: r.id, Urn: urnOf(r.typ, r.name), State: r.outputs, Inputs: checked, OldInputs: r.inputs,
	})
	if err != nil {
		h.t.Fatalf("diff %s: %v", r.name, err)
	}
	return checked, resp
}

// update updates r in place (as the engine does after a diff without replacement).
func (h *harness) update(r *resourceState, inputs property.Map, dryRun bool) (property.Map, error) {
	h.t.Helper()
	checked := h.mustCheck(r.typ, r.name, inputs, r.inputs)
	resp, err := h.s.Update(p.UpdateRequest{
		ID: r.id, Urn: urnOf(r.typ, r.name), State: r.outputs, Inputs: checked, OldInputs: r.inputs, DryRun: dryRun,
	})
	if err != nil {
		// Nothing may come back: the engine then keeps the old state (a partial state would replace it).
		if resp.Properties.Len() != 0 || resp.PartialState != nil {
			h.t.Errorf("failed update of %s returned state: props=%v partial=%v", r.name, resp.Properties, resp.PartialState)
		}
		return property.Map{}, err
	}
	if !dryRun {
		r.inputs, r.outputs = checked, resp.Properties
	}
	return resp.Properties, nil
}

func (h *harness) delete(r *resourceState) error {
	h.t.Helper()
	return h.s.Delete(p.DeleteRequest{ID: r.id, Urn: urnOf(r.typ, r.name), Properties: r.outputs, OldInputs: r.inputs})
}

// Property helpers.

func str(s string) property.Value { return property.New(s) }
func num(n int) property.Value    { return property.New(float64(n)) }

func obj(m map[string]property.Value) property.Value { return property.New(property.NewMap(m)) }

func props(m map[string]property.Value) property.Map { return property.NewMap(m) }

func arr(vs ...property.Value) property.Value { return property.New(property.NewArray(vs)) }

// connection builds the connection the SDK sends: secret, with the SDK's defaults applied.
func connection(ts *testServer, overrides map[string]property.Value) property.Value {
	m := map[string]property.Value{
		"host":           str(ts.Host),
		"port":           num(ts.Port),
		"user":           str("tester"),
		"privateKey":     str(ts.ClientKey),
		"dialErrorLimit": num(10),
		"perDialTimeout": num(15),
	}
	for k, v := range overrides {
		if v.IsNull() {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return obj(m).WithSecret(true)
}

func outString(t *testing.T, m property.Map, key string) string {
	t.Helper()
	v := m.Get(key)
	if !v.IsString() {
		t.Fatalf("output %q is not a known string: %v", key, v)
	}
	return v.AsString()
}

// diffKinds summarizes a detailed diff as "key:kind" pairs.
func diffKinds(d p.DiffResponse) map[string]p.DiffKind {
	out := map[string]p.DiffKind{}
	for k, v := range d.DetailedDiff {
		out[k] = v.Kind
	}
	return out
}

func isReplace(d p.DiffResponse) bool {
	for _, v := range d.DetailedDiff {
		switch v.Kind {
		case p.AddReplace, p.DeleteReplace, p.UpdateReplace:
			return true
		}
	}
	return false
}
