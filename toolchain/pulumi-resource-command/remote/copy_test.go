package remote

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/archive"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/asset"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

func fileAsset(t *testing.T, path string) property.Value {
	t.Helper()
	a, err := asset.FromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	return property.New(a)
}

func textAsset(t *testing.T, text string) property.Value {
	t.Helper()
	a, err := asset.FromText(text)
	if err != nil {
		t.Fatal(err)
	}
	return property.New(a)
}

func fileArchive(t *testing.T, path string) property.Value {
	t.Helper()
	a, err := archive.FromPath(path)
	if err != nil {
		t.Fatal(err)
	}
	return property.New(a)
}

func writeLocal(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func copyInputs(ts *testServer, source property.Value, remotePath string, extra map[string]property.Value) property.Map {
	m := map[string]property.Value{
		"connection": connection(ts, nil),
		"source":     source,
		"remotePath": str(remotePath),
	}
	for k, v := range extra {
		m[k] = v
	}
	return props(m)
}

func TestCopyFileAsset(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	local := filepath.Join(t.TempDir(), "kube-binary")
	data := randomBytes(t, 3<<20+17)
	writeLocal(t, local, data)
	dest := filepath.Join(ts.Home, "staging", "deep", "kube-binary") // parents do not exist yet

	in := copyInputs(ts, fileAsset(t, local), dest, map[string]property.Value{"triggers": arr(str("sha-1"))})
	h.preview(copyType, "bin", in)
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Fatalf("preview copied the file (stat: %v)", err)
	}
	r := h.mustCreate(copyType, "bin", in)
	if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("remote copy differs (err %v, %d bytes, want %d)", err, len(got), len(data))
	}
	if !r.outputs.Get("connection").Secret() {
		t.Error("connection output is not secret")
	}
	if !r.outputs.Get("source").IsAsset() || outString(t, r.outputs, "remotePath") != dest {
		t.Errorf("inputs not echoed: %v", r.outputs)
	}

	// No change: no diff.
	if _, d := h.diff(r, in); d.HasChanges {
		t.Errorf("unchanged copy has changes: %v", diffKinds(d))
	}
	// Triggers change: replace.
	if _, d := h.diff(r, copyInputs(ts, fileAsset(t, local), dest, map[string]property.Value{"triggers": arr(str("sha-2"))})); !isReplace(d) {
		t.Errorf("trigger change should replace: %v", diffKinds(d))
	}

	// New content at the same path: an update that copies again.
	data2 := randomBytes(t, 1000)
	writeLocal(t, local, data2)
	in2 := copyInputs(ts, fileAsset(t, local), dest, map[string]property.Value{"triggers": arr(str("sha-1"))})
	_, d := h.diff(r, in2)
	if !d.HasChanges || isReplace(d) {
		t.Errorf("source change should update in place: %v", diffKinds(d))
	}
	if _, err := h.update(r, in2, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data2) {
		t.Error("update did not copy the new content")
	}

	// A connection-only change copies nothing (as upstream).
	writeLocal(t, dest, []byte("changed on the host"))
	in3 := copyInputs(ts, fileAsset(t, local), dest, map[string]property.Value{"triggers": arr(str("sha-1"))})
	in3 = in3.Set("connection", connection(ts, map[string]property.Value{"perDialTimeout": num(20)}))
	if _, err := h.update(r, in3, false); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dest); got != "changed on the host" {
		t.Error("a connection-only update copied again")
	}

	// Delete leaves the remote file in place (as upstream).
	if err := h.delete(r); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dest); err != nil {
		t.Errorf("delete removed the remote file: %v", err)
	}

	// A file copied onto an existing directory lands inside it.
	dir := filepath.Join(ts.Home, "existing-dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h.mustCreate(copyType, "into-dir", copyInputs(ts, fileAsset(t, local), dir, nil))
	if got, _ := os.ReadFile(filepath.Join(dir, "kube-binary")); !bytes.Equal(got, data2) {
		t.Error("file not copied into the existing directory")
	}
}

func TestCopyStringAsset(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	dest := filepath.Join(ts.Home, "keys", "id.pub")
	r := h.mustCreate(copyType, "text", copyInputs(ts, textAsset(t, "ssh-ed25519 AAAAtext\n"), dest, nil))
	if got := readFile(t, dest); got != "ssh-ed25519 AAAAtext\n" {
		t.Errorf("remote text = %q", got)
	}
	// Changing the text updates the file.
	if _, err := h.update(r, copyInputs(ts, textAsset(t, "second"), dest, nil), false); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, dest); got != "second" {
		t.Errorf("remote text after update = %q", got)
	}
	// A text asset cannot target a directory.
	_, err := h.create(copyType, "text-to-dir", copyInputs(ts, textAsset(t, "x"), ts.Home, nil))
	if err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("text onto a directory: %v", err)
	}
}

func TestCopyDirectoryArchive(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	src := filepath.Join(t.TempDir(), "bundle")
	files := map[string][]byte{
		"a.txt":           []byte("alpha"),
		"sub/b.bin":       randomBytes(t, 70000),
		"sub/deeper/c.md": []byte("gamma"),
	}
	for rel, data := range files {
		writeLocal(t, filepath.Join(src, filepath.FromSlash(rel)), data)
	}
	if err := os.MkdirAll(filepath.Join(src, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	// Without a trailing slash the directory itself is copied under remotePath (created).
	dest := filepath.Join(ts.Home, "opt", "stuff")
	h.mustCreate(copyType, "dir", copyInputs(ts, fileArchive(t, src), dest, nil))
	for rel, data := range files {
		got, err := os.ReadFile(filepath.Join(dest, "bundle", filepath.FromSlash(rel)))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: not copied (err %v)", rel, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dest, "bundle", "empty")); err != nil || !fi.IsDir() {
		t.Errorf("empty directory not copied: %v", err)
	}

	// With a trailing slash its contents are copied into remotePath.
	dest2 := filepath.Join(ts.Home, "contents")
	h.mustCreate(copyType, "dir-contents", copyInputs(ts, fileArchive(t, src+"/"), dest2, nil))
	if got := readFile(t, filepath.Join(dest2, "sub", "deeper", "c.md")); got != "gamma" {
		t.Errorf("contents copy: %q", got)
	}

	// A directory onto an existing file fails clearly.
	writeLocal(t, filepath.Join(ts.Home, "a-file"), []byte("x"))
	_, err := h.create(copyType, "dir-onto-file", copyInputs(ts, fileArchive(t, src), filepath.Join(ts.Home, "a-file"), nil))
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("directory onto a file: %v", err)
	}
}

func TestCopyCheck(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	remote := &asset.Asset{Sig: asset.AssetSig, URI: "https://example.com/x", Hash: "0123"}
	_, failures := h.check(copyType, "uri", copyInputs(ts, property.New(remote), "/tmp/x", nil), property.Map{})
	if len(failures) != 1 || failures[0].Property != "source" {
		t.Errorf("remote asset accepted: %+v", failures)
	}
	// An unknown source (during preview) passes Check.
	_, failures = h.check(copyType, "unknown", copyInputs(ts, property.New(property.Computed), "/tmp/x", nil), property.Map{})
	if len(failures) != 0 {
		t.Errorf("unknown source rejected: %+v", failures)
	}
	// A missing remotePath is reported.
	m := copyInputs(ts, textAsset(t, "x"), "/tmp/x", nil).Delete("remotePath")
	_, failures = h.check(copyType, "no-path", m, property.Map{})
	if len(failures) == 0 {
		t.Error("missing remotePath accepted")
	}
}
