package remote

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	p "github.com/pulumi/pulumi-go-provider"
)

// The shipped @pulumi/command 1.2.1 Node SDK is the contract: what it sends (inputs, their types, which are required,
// which it makes secret, the defaults it fills in) and what it reads back (outputs) must be what our schema says.
// The SDK is read from the project's node_modules (K8SCP_COMMAND_SDK_DIR overrides the path).

func sdkDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("K8SCP_COMMAND_SDK_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "node_modules", "@pulumi", "command")
	}
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		t.Fatalf("the @pulumi/command SDK is not at %s (run npm ci in the repository, or set K8SCP_COMMAND_SDK_DIR): %v", dir, err)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(b, &pkg); err != nil || pkg.Version != "1.2.1" {
		t.Fatalf("%s: @pulumi/command version %q (%v), want 1.2.1", dir, pkg.Version, err)
	}
	return dir
}

func readSDK(t *testing.T, dir, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, rel))
	if err != nil {
		t.Fatal(err)
	}
	// Without comments and with single spaces.
	s := regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(string(b), "")
	s = regexp.MustCompile(`(?m)//.*$`).ReplaceAllString(s, "")
	return strings.Join(strings.Fields(s), " ")
}

// tsBlock returns the body of the first `<head> {` block in src (head a regexp), braces balanced.
func tsBlock(t *testing.T, src, head string) string {
	t.Helper()
	loc := regexp.MustCompile(head + `[^{]*\{`).FindStringIndex(src)
	if loc == nil {
		t.Fatalf("no %q in the SDK", head)
	}
	depth := 1
	for i := loc[1]; i < len(src); i++ {
		switch src[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return src[loc[1]:i]
			}
		}
	}
	t.Fatalf("unbalanced %q", head)
	return ""
}

// tsMembers splits a block body into "name" -> "type", with required unless the name has "?" or the type
// "| undefined". Only top-level members; methods and static members are skipped.
type tsMember struct {
	typ      string
	required bool
}

func tsMembers(body string) map[string]tsMember {
	out := map[string]tsMember{}
	depth, start := 0, 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '{', '<', '(':
			depth++
		case '}', '>', ')':
			depth--
		case ';':
			if depth != 0 {
				continue
			}
			m := strings.TrimSpace(body[start:i])
			start = i + 1
			if strings.HasPrefix(m, "static ") || strings.HasPrefix(m, "constructor") {
				continue
			}
			m = strings.TrimPrefix(m, "readonly ")
			name, typ, ok := strings.Cut(m, ":")
			if !ok || strings.Contains(name, "(") {
				continue
			}
			required := !strings.HasSuffix(name, "?")
			typ = canonicalTS(typ)
			if strings.HasSuffix(typ, " | undefined") {
				required = false
				typ = strings.TrimSuffix(typ, " | undefined")
			}
			out[strings.TrimSuffix(strings.TrimSpace(name), "?")] = tsMember{typ, required}
		}
	}
	return out
}

var tsWrapper = regexp.MustCompile(`^pulumi\.(Input|Output)<(.*)>$`)

// canonicalTS names a TypeScript type the way canonicalSchema names a schema type.
func canonicalTS(typ string) string {
	typ = strings.TrimSpace(typ)
	for {
		m := tsWrapper.FindStringSubmatch(typ)
		if m == nil {
			break
		}
		typ = strings.TrimSpace(m[2])
	}
	typ = strings.ReplaceAll(typ, "pulumi.Input<string>", "string")
	optional := strings.HasSuffix(typ, " | undefined")
	typ = strings.TrimSuffix(typ, " | undefined")
	switch {
	case typ == "{ [key: string]: string; }":
		typ = "map<string>"
	case typ == "any[]":
		typ = "array<any>"
	case typ == "pulumi.asset.Asset | pulumi.asset.Archive":
		typ = "asset-or-archive"
	case strings.HasPrefix(typ, "inputs.remote.") || strings.HasPrefix(typ, "outputs.remote.") || strings.HasPrefix(typ, "enums.remote."):
		typ = "ref:" + strings.TrimSuffix(typ[strings.LastIndex(typ, ".")+1:], "Args")
	}
	if optional {
		typ += " | undefined"
	}
	return typ
}

type schemaProp struct {
	Type                 string          `json:"type"`
	Ref                  string          `json:"$ref"`
	Items                *schemaProp     `json:"items"`
	AdditionalProperties *schemaProp     `json:"additionalProperties"`
	Secret               bool            `json:"secret"`
	ReplaceOnChanges     bool            `json:"replaceOnChanges"`
	Default              json.RawMessage `json:"default"`
}

func canonicalSchema(s schemaProp) string {
	switch {
	case s.Ref == "pulumi.json#/Asset" || s.Ref == "pulumi.json#/Archive" || s.Ref == "pulumi.json#/AssetOrArchive":
		// The Node code generator types pulumi.json#/Asset as Asset | Archive.
		return "asset-or-archive"
	case s.Ref == "pulumi.json#/Any":
		return "any"
	case strings.HasPrefix(s.Ref, "#/types/command:remote:"):
		return "ref:" + strings.TrimPrefix(s.Ref, "#/types/command:remote:")
	case s.Type == "integer" || s.Type == "number":
		return "number"
	case s.Type == "array" && s.Items != nil:
		return "array<" + canonicalSchema(*s.Items) + ">"
	case s.Type == "object" && s.AdditionalProperties != nil:
		return "map<" + canonicalSchema(*s.AdditionalProperties) + ">"
	}
	return s.Type
}

type sdkSchema struct {
	Resources map[string]struct {
		InputProperties map[string]schemaProp `json:"inputProperties"`
		Properties      map[string]schemaProp `json:"properties"`
		RequiredInputs  []string              `json:"requiredInputs"`
		Required        []string              `json:"required"`
	} `json:"resources"`
	Types map[string]struct {
		Properties map[string]schemaProp `json:"properties"`
		Required   []string             `json:"required"`
		Enum       []struct {
			Value string `json:"value"`
		} `json:"enum"`
	} `json:"types"`
}

func ourSchema(t *testing.T) sdkSchema {
	t.Helper()
	h := newHarness(t)
	resp, err := h.s.GetSchema(p.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var s sdkSchema
	if err := json.Unmarshal([]byte(resp.Schema), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// fromSchema describes properties as canonicalTS would, with required from the list.
func fromSchema(props map[string]schemaProp, required []string) map[string]tsMember {
	out := map[string]tsMember{}
	for k, v := range props {
		out[k] = tsMember{typ: canonicalSchema(v), required: contains(required, k)}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func compareMembers(t *testing.T, what string, sdk, ours map[string]tsMember) {
	t.Helper()
	for k, v := range sdk {
		o, ok := ours[k]
		switch {
		case !ok:
			t.Errorf("%s: the SDK has %q (%s), our schema does not", what, k, v.typ)
		case o != v:
			t.Errorf("%s.%s: the SDK has %s (required %v), our schema %s (required %v)", what, k, v.typ, v.required, o.typ, o.required)
		}
	}
	for k := range ours {
		if _, ok := sdk[k]; !ok {
			t.Errorf("%s: our schema has %q, the SDK does not", what, k)
		}
	}
}

// jsList returns the string list of `<key>: [...]` in a JS source (additionalSecretOutputs, replaceOnChanges).
func jsList(src, key string) []string {
	m := regexp.MustCompile(key + `: \[((?:"[^"]*",? ?)*)\]`).FindStringSubmatch(src)
	if m == nil {
		return nil
	}
	var out []string
	for _, q := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(m[1], -1) {
		out = append(out, q[1])
	}
	sort.Strings(out)
	return out
}

func TestSchemaAgainstTheNodeSDK(t *testing.T) {
	dir := sdkDir(t)
	s := ourSchema(t)
	resources := map[string]struct{ file, class string }{
		"command:remote:Command":      {"remote/command", "Command"},
		"command:remote:CopyToRemote": {"remote/copyToRemote", "CopyToRemote"},
	}
	// The SDK registers remote:CopyFile and the local resources too; we serve only these two.
	if len(s.Resources) != len(resources) {
		t.Errorf("our schema has %d resources, want %d", len(s.Resources), len(resources))
	}
	for tok, r := range resources {
		ours, ok := s.Resources[tok]
		if !ok {
			t.Errorf("our schema lacks %s", tok)
			continue
		}
		dts := readSDK(t, dir, r.file+".d.ts")
		js := readSDK(t, dir, r.file+".js")
		if !strings.Contains(js, `__pulumiType = '`+tok+`'`) {
			t.Errorf("%s.js does not register %s", r.file, tok)
		}
		compareMembers(t, tok+" inputs", tsMembers(tsBlock(t, dts, `export interface `+r.class+`Args`)),
			fromSchema(ours.InputProperties, ours.RequiredInputs))
		compareMembers(t, tok+" outputs", tsMembers(tsBlock(t, dts, `export declare class `+r.class+` extends`)),
			fromSchema(ours.Properties, ours.Required))

		// Secrets: the SDK wraps these inputs in pulumi.secret and asks for these outputs to be secret.
		var secretIn, secretOut, replace []string
		for _, m := range regexp.MustCompile(`resourceInputs\["(\w+)"\] = args\?\.\w+ \? pulumi\.secret\(`).FindAllStringSubmatch(js, -1) {
			secretIn = append(secretIn, m[1])
		}
		sort.Strings(secretIn)
		var oursIn, oursOut []string
		for k, v := range ours.InputProperties {
			if v.Secret {
				oursIn = append(oursIn, k)
			}
			if v.ReplaceOnChanges {
				replace = append(replace, k+"[*]")
			}
		}
		for k, v := range ours.Properties {
			if v.Secret {
				oursOut = append(oursOut, k)
			}
		}
		sort.Strings(oursIn)
		sort.Strings(oursOut)
		sort.Strings(replace)
		secretOut = jsList(js, "additionalSecretOutputs")
		if !reflect.DeepEqual(secretIn, oursIn) {
			t.Errorf("%s: secret inputs: the SDK %q, ours %q", tok, secretIn, oursIn)
		}
		if !reflect.DeepEqual(secretOut, oursOut) {
			t.Errorf("%s: secret outputs: the SDK %q, ours %q", tok, secretOut, oursOut)
		}
		if sdk := jsList(js, "replaceOnChanges"); !reflect.DeepEqual(sdk, replace) {
			t.Errorf("%s: replaceOnChanges: the SDK %q, ours %q", tok, sdk, replace)
		}
	}

	// The connection types, as the SDK sends them (input.d.ts) and reads them (output.d.ts).
	in := readSDK(t, dir, "types/input.d.ts")
	out := readSDK(t, dir, "types/output.d.ts")
	inJS := readSDK(t, dir, "types/input.js")
	for _, typ := range []string{"Connection", "ProxyConnection"} {
		ours, ok := s.Types["command:remote:"+typ]
		if !ok {
			t.Errorf("our schema lacks command:remote:%s", typ)
			continue
		}
		mine := fromSchema(ours.Properties, ours.Required)
		compareMembers(t, typ+" (input.d.ts)", tsMembers(tsBlock(t, in, `interface `+typ+`Args`)), mine)
		compareMembers(t, typ+" (output.d.ts)", tsMembers(tsBlock(t, out, `interface `+typ+` `)), mine)
		// Defaults: the SDK fills them in before sending (connectionArgsProvideDefaults).
		fn := strings.ToLower(typ[:1]) + typ[1:] + "ArgsProvideDefaults"
		body := tsBlock(t, inJS, `function `+fn+`\(val\)`)
		sdkDefaults := map[string]string{}
		for _, m := range regexp.MustCompile(`(\w+): \(val\.\w+\) \?\? ([^,}]+)`).FindAllStringSubmatch(body, -1) {
			sdkDefaults[m[1]] = strings.TrimSpace(m[2])
		}
		ourDefaults := map[string]string{}
		for k, v := range ours.Properties {
			if len(v.Default) != 0 {
				ourDefaults[k] = string(v.Default)
			}
		}
		if len(sdkDefaults) == 0 || !reflect.DeepEqual(sdkDefaults, ourDefaults) {
			t.Errorf("%s defaults: the SDK %v, ours %v", typ, sdkDefaults, ourDefaults)
		}
	}

	// The Logging enum.
	enum := readSDK(t, dir, "types/enums/remote/index.d.ts")
	var sdkValues, ourValues []string
	for _, m := range regexp.MustCompile(`readonly \w+: "(\w+)"`).FindAllStringSubmatch(tsBlock(t, enum, `export declare const Logging:`), -1) {
		sdkValues = append(sdkValues, m[1])
	}
	for _, e := range s.Types["command:remote:Logging"].Enum {
		ourValues = append(ourValues, e.Value)
	}
	sort.Strings(sdkValues)
	sort.Strings(ourValues)
	if len(sdkValues) == 0 || !reflect.DeepEqual(sdkValues, ourValues) {
		t.Errorf("Logging: the SDK %q, ours %q", sdkValues, ourValues)
	}
}
