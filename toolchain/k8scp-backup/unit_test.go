package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestParseSettings(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	ok := "# comment\n\n endpoint = https://s3.example:9000 \nbucket=snaps\nprefix=k8s/prod\nca_file=/etc/ca.pem\nrecipient=" + id.Recipient().String() + "\n"
	s, err := ParseSettings([]byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if s.Endpoint.String() != "https://s3.example:9000" || s.Bucket != "snaps" || s.Prefix != "k8s/prod" || s.Region != "us-east-1" || s.CAFile != "/etc/ca.pem" {
		t.Fatalf("parsed %+v", s)
	}
	for _, c := range []struct{ text, want string }{
		{"endpoint=http://h\nbucket=b\nbukket=c\n", `unknown key "bukket"`},
		{"bucket=b\n", `missing required key "endpoint"`},
		{"endpoint=http://h\n", `missing required key "bucket"`},
		{"endpoint=http://h\nbucket=b\nbucket=c\n", `given twice`},
		{"endpoint=ftp://h\nbucket=b\n", `http:// or https://`},
		{"endpoint=http://h/path\nbucket=b\n", `nothing else`},
		{"endpoint=http://h\nbucket=b\nprefix=/x\n", `no leading or trailing slash`},
		{"endpoint=http://h\nbucket=b\nprefix=x/\n", `no leading or trailing slash`},
		{"endpoint=http://h\nbucket=b\nprefix=x//y\n", `path segment`},
		{"endpoint=http://h\nbucket=b\nca_file=/ca\n", `not https`},
		{"endpoint=http://h\nbucket=b\nrecipient=age1nope\n", `recipient`},
		{"endpoint=http://h\nbucket=b\njust words\n", `line 3: expected key=value`},
	} {
		_, err := ParseSettings([]byte(c.text))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.text, err, c.want)
		}
	}
	s, err = ParseSettings([]byte("endpoint=http://127.0.0.1:1/\nbucket=b\nregion=eu-1\n"))
	if err != nil || s.Region != "eu-1" || s.Endpoint.Host != "127.0.0.1:1" || s.Prefix != "" {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestKeyNaming(t *testing.T) {
	s := &Settings{Bucket: "b"}
	if k := s.ObjectKey("etcd/m1/etcd-m1-20260102T030405Z.db"); k != "etcd/m1/etcd-m1-20260102T030405Z.db.age" {
		t.Error(k)
	}
	if p := s.ListPrefix(""); p != "" {
		t.Error(p)
	}
	if p := s.ListPrefix("etcd"); p != "etcd/" {
		t.Error(p)
	}
	s.Prefix = "k8s/prod"
	if k := s.ObjectKey("x.db"); k != "k8s/prod/x.db.age" {
		t.Error(k)
	}
	if p := s.ListPrefix(""); p != "k8s/prod/" {
		t.Error(p)
	}
	if p := s.ListPrefix("etcd/m1"); p != "k8s/prod/etcd/m1/" {
		t.Error(p)
	}
	for _, bad := range []string{"", "/x", "x/", "a/../b", "a/./b", "a\nb"} {
		if checkPath("--name", bad, false) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCredentialOrder(t *testing.T) {
	dir := t.TempDir()
	credDir := filepath.Join(dir, "creds")
	os.Mkdir(credDir, 0o700)
	writeFile(t, credDir, "s3-credentials", "# systemd\naccess_key_id=sd\nsecret_access_key=sdsecret\n")
	flagFile := writeFile(t, dir, "flag", "access_key_id=fl\nsecret_access_key=flsecret\n")
	envAll := map[string]string{"CREDENTIALS_DIRECTORY": credDir, "AWS_ACCESS_KEY_ID": "env", "AWS_SECRET_ACCESS_KEY": "envsecret"}

	c, err := LoadCredentials(envOf(envAll), flagFile)
	if err != nil || c.AccessKeyID != "sd" || c.SecretAccessKey != "sdsecret" {
		t.Fatalf("CREDENTIALS_DIRECTORY first: %+v %v", c, err)
	}
	delete(envAll, "CREDENTIALS_DIRECTORY")
	c, err = LoadCredentials(envOf(envAll), flagFile)
	if err != nil || c.AccessKeyID != "fl" {
		t.Fatalf("--credentials second: %+v %v", c, err)
	}
	c, err = LoadCredentials(envOf(envAll), "")
	if err != nil || c.AccessKeyID != "env" || c.SecretAccessKey != "envsecret" {
		t.Fatalf("environment last: %+v %v", c, err)
	}
	// A set CREDENTIALS_DIRECTORY without the file is an error naming it (no fallback).
	_, err = LoadCredentials(envOf(map[string]string{"CREDENTIALS_DIRECTORY": dir, "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}), "")
	if err == nil || !strings.Contains(err.Error(), "CREDENTIALS_DIRECTORY") || !strings.Contains(err.Error(), "s3-credentials") {
		t.Fatalf("missing systemd credential: %v", err)
	}
	_, err = LoadCredentials(envOf(nil), filepath.Join(dir, "nope"))
	if err == nil || !strings.Contains(err.Error(), "--credentials") || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing --credentials file: %v", err)
	}
	_, err = LoadCredentials(envOf(nil), "")
	if err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") || !strings.Contains(err.Error(), "--credentials") {
		t.Fatalf("nothing: %v", err)
	}
	_, err = LoadCredentials(envOf(map[string]string{"AWS_ACCESS_KEY_ID": "a"}), "")
	if err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY") {
		t.Fatalf("half: %v", err)
	}
	bad := writeFile(t, dir, "bad", "access_key_id=a\nsecret=b\n")
	if _, err = LoadCredentials(envOf(nil), bad); err == nil || !strings.Contains(err.Error(), `unknown key "secret"`) {
		t.Fatalf("unknown key: %v", err)
	}
	half := writeFile(t, dir, "half", "access_key_id=a\n")
	if _, err = LoadCredentials(envOf(nil), half); err == nil || !strings.Contains(err.Error(), "missing secret_access_key") {
		t.Fatalf("missing key: %v", err)
	}
}

// encrypt runs put's encryption path and returns the ciphertext, checking its precomputed length.
func encrypt(t *testing.T, plain []byte, r age.Recipient) []byte {
	t.Helper()
	sum := sha256.Sum256(plain)
	ct, size, abort, wait, err := encryptStream(newVerifyingReader(bytes.NewReader(plain), int64(len(plain)), hex.EncodeToString(sum[:]), "p"), int64(len(plain)), r)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(ct)
	abort()
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if int64(len(out)) != size {
		t.Fatalf("%d plaintext bytes: ciphertext is %d bytes, precomputed %d", len(plain), len(out), size)
	}
	return out
}

func TestAgeRoundTrip(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	for _, n := range []int{0, 1, ageChunk - 1, ageChunk, ageChunk + 1, 3 * ageChunk, 3*ageChunk + 7} {
		plain := make([]byte, n)
		rand.Read(plain)
		ct := encrypt(t, plain, id.Recipient())
		dec, err := age.Decrypt(bytes.NewReader(ct), id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(dec)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: round trip failed: %v", n, err)
		}
		// The wrong identity cannot open it.
		if _, err := age.Decrypt(bytes.NewReader(ct), other); err == nil {
			t.Fatalf("%d bytes: opened with the wrong identity", n)
		}
		// A flipped byte anywhere in the payload, or a cut, fails authentication.
		for _, pos := range []int{len(ct) - 1, len(ct) - ageOverhead - 1, len(ct) / 2} {
			bad := bytes.Clone(ct)
			bad[pos] ^= 0x40
			if d, err := age.Decrypt(bytes.NewReader(bad), id); err == nil {
				if _, err := io.ReadAll(d); err == nil {
					t.Fatalf("%d bytes: tampered byte %d not detected", n, pos)
				}
			}
		}
		if n > 0 {
			if d, err := age.Decrypt(bytes.NewReader(ct[:len(ct)-1]), id); err == nil {
				if _, err := io.ReadAll(d); err == nil {
					t.Fatalf("%d bytes: truncation not detected", n)
				}
			}
		}
	}
}

func TestVerifyingReaderDetectsChange(t *testing.T) {
	plain := []byte("snapshot bytes")
	sum := sha256.Sum256(plain)
	for _, changed := range [][]byte{[]byte("snapshot BYTES"), []byte("snapshot bytes+"), []byte("snap")} {
		_, err := io.ReadAll(newVerifyingReader(bytes.NewReader(changed), int64(len(plain)), hex.EncodeToString(sum[:]), "f"))
		if err == nil || !strings.Contains(err.Error(), "while it was uploaded") {
			t.Errorf("%q: %v", changed, err)
		}
	}
}

func TestRecipientAndKeygen(t *testing.T) {
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: envOf(nil)}
	if code := c.run([]string{"keygen"}); code != 0 {
		t.Fatal(errb.String())
	}
	line := strings.TrimSpace(out.String())
	id, err := age.ParseX25519Identity(line)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	c.stdin = strings.NewReader("# created: now\n" + line + "\n")
	if code := c.run([]string{"recipient"}); code != 0 || strings.TrimSpace(out.String()) != id.Recipient().String() {
		t.Fatalf("recipient from stdin: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	c.stdin = strings.NewReader("")
	c.getenv = envOf(map[string]string{"K8SCP_BACKUP_IDENTITY": line})
	if code := c.run([]string{"recipient"}); code != 0 || strings.TrimSpace(out.String()) != id.Recipient().String() {
		t.Fatalf("recipient from env: %d %q %q", code, out.String(), errb.String())
	}
	errb.Reset()
	c.getenv = envOf(nil)
	c.stdin = strings.NewReader("AGE-SECRET-KEY-1NOPE\n")
	if code := c.run([]string{"recipient"}); code != 1 || !strings.HasPrefix(errb.String(), "k8scp-backup: reading an identity from stdin: ") {
		t.Fatalf("bad identity: %d %q", code, errb.String())
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{}, {"frobnicate"}, {"put", "--settings", "s", "f"}, {"put", "--settings", "s", "--name", "n"},
		{"get", "--settings", "s", "k"}, {"prune", "--settings", "s", "--dir", "d"}, {"prune", "--settings", "s", "--dir", "d", "--keep", "0"},
		{"prune", "--settings", "s", "--keep", "1"}, {"list"}, {"list", "--settings", "s", "--bogus"}, {"list", "--settings", "s", "--timeout", "0"},
		{"put", "--settings", "s", "--name", "/abs", "f"}, {"keygen", "x"},
	} {
		var out, errb bytes.Buffer
		c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: envOf(nil)}
		if code := c.run(args); code != 2 || !strings.Contains(errb.String(), "usage:") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

func TestSettingsErrorNamesKey(t *testing.T) {
	p := writeFile(t, t.TempDir(), "settings", "endpoint=http://127.0.0.1:1\nbucket=b\nendpiont=x\n")
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: envOf(nil)}
	if code := c.run([]string{"list", "--settings", p}); code != 1 || !strings.Contains(errb.String(), `unknown key "endpiont"`) {
		t.Fatalf("exit %d: %q", code, errb.String())
	}
}

func TestSnapshotOrdering(t *testing.T) {
	keys := []string{
		"p/etcd/m2/etcd-m2-20260101T000000Z.db.age",
		"p/etcd/m1/etcd-m1-20260103T000000Z.db.age",
		"p/etcd/m1/etcd-m1-20260102T120000Z.db.age",
		"p/etcd/m1/etcd-m1-20260102T120000Z.db",                  // not .age: ignored
		"p/etcd/m1/manual.db.age",                                // no timestamp: never chosen, never deleted
		"p/etcd/m3-20991231T235959Z/etcd-m3-x.db.age",            // the timestamp is in a folder name, not the base name
		"p/etcd/m0/etcd-m0-20261301T000000Z.db.age",              // month 13: not a valid time
		"p/etcd/m9/etcd-m9-20260103T000000Z.db.age",              // same time as m1: the greater key is newer
		"p/etcd/m1/old-20200101T000000Z-20260104T000000Z.db.age", // the last timestamp counts
	}
	s, undated := sortSnapshots(keys)
	want := []string{
		"p/etcd/m1/old-20200101T000000Z-20260104T000000Z.db.age",
		"p/etcd/m9/etcd-m9-20260103T000000Z.db.age",
		"p/etcd/m1/etcd-m1-20260103T000000Z.db.age",
		"p/etcd/m1/etcd-m1-20260102T120000Z.db.age",
		"p/etcd/m2/etcd-m2-20260101T000000Z.db.age",
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("order:\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
	}
	if len(undated) != 3 {
		t.Fatalf("undated: %q", undated)
	}
	del, _ := pruneSet(keys, 2)
	if !reflect.DeepEqual(del, want[2:]) {
		t.Fatalf("prune keep 2 deletes %q", del)
	}
	if del, _ := pruneSet(keys, 5); len(del) != 0 {
		t.Fatalf("prune keep 5 deletes %q", del)
	}
}

// A server that accepts connections and never answers: every command ends at its --timeout, with a message saying so.
func TestTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	dir := t.TempDir()
	settings := writeFile(t, dir, "settings", "endpoint=http://"+l.Addr().String()+"\nbucket=snapshots\n")
	env := map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
	start := time.Now()
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: envOf(env), ctx: context.Background()}
	code := c.run([]string{"list", "--settings", settings, "--timeout", "1"})
	if took := time.Since(start); code != 1 || took > 5*time.Second || !strings.Contains(errb.String(), "timed out after 1 s (--timeout)") {
		t.Fatalf("exit %d after %v: %q", code, took, errb.String())
	}
}
