package main

// Integration tests against a real versitygw (S3 gateway, POSIX backend) on 127.0.0.1. The binary comes from
// $K8SCP_VERSITYGW (bash scripts/toolchain.sh versitygw builds it); without it these tests are skipped.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

type gateway struct {
	endpoint, key, secret, root string
}

// startGateway starts versitygw on a free loopback port with a POSIX backend in a temporary directory and random
// root credentials (in its environment), and creates the bucket "snapshots". It is killed when the test ends.
func startGateway(t *testing.T) *gateway {
	t.Helper()
	bin := os.Getenv("K8SCP_VERSITYGW")
	if bin == "" {
		t.Skip("K8SCP_VERSITYGW is not set: the S3 integration tests need a versitygw binary (bash scripts/toolchain.sh versitygw; the TypeScript test runner sets it)")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("K8SCP_VERSITYGW=%s: %v", bin, err)
	}
	g := &gateway{key: "test" + randHex(6), secret: randHex(20), root: t.TempDir()}
	var lastErr error
	for try := 0; try < 3; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		var logb bytes.Buffer
		cmd := exec.Command(bin, "--quiet", "--health", "/health", "--port", addr, "posix", g.root)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+g.key, "ROOT_SECRET_ACCESS_KEY="+g.secret)
		cmd.Stdout, cmd.Stderr = &logb, &logb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		g.endpoint = "http://" + addr
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-exited:
				lastErr = fmt.Errorf("versitygw exited: %v: %s", err, logb.String())
				exited <- err
				goto next
			default:
			}
			if r, err := http.Get(g.endpoint + "/health"); err == nil {
				r.Body.Close()
				if r.StatusCode == 200 {
					mc := g.client(t, g.key, g.secret)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					defer cancel()
					if err := mc.MakeBucket(ctx, "snapshots", minio.MakeBucketOptions{}); err != nil {
						t.Fatalf("creating the bucket: %v", err)
					}
					return g
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		lastErr = fmt.Errorf("versitygw did not answer /health on %s within 15 s: %s", addr, logb.String())
	next:
	}
	t.Fatal(lastErr)
	return nil
}

func (g *gateway) client(t *testing.T, key, secret string) *minio.Client {
	mc, err := minio.New(strings.TrimPrefix(g.endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(key, secret, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath, MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs k8scp-backup in-process with the given environment (nothing else of the test's environment).
func runCLI(env map[string]string, args ...string) result {
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: envOf(env), ctx: context.Background()}
	code := c.run(args)
	return result{code, out.String(), errb.String()}
}

func (r result) must(t *testing.T, what string) string {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d: %s", what, r.code, r.stderr)
	}
	return r.stdout
}

func (r result) mustFail(t *testing.T, what string, contains ...string) {
	t.Helper()
	if r.code != 1 {
		t.Fatalf("%s: exit %d, want 1 (stdout %q, stderr %q)", what, r.code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "k8scp-backup: ") {
		t.Errorf("%s: stderr %q does not start with 'k8scp-backup: '", what, r.stderr)
	}
	for _, c := range contains {
		if !strings.Contains(r.stderr, c) {
			t.Errorf("%s: stderr %q does not name %q", what, r.stderr, c)
		}
	}
}

func TestS3Integration(t *testing.T) {
	g := startGateway(t)
	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	other, _ := age.GenerateX25519Identity()
	settings := writeFile(t, dir, "settings", fmt.Sprintf("endpoint=%s\nbucket=snapshots\nprefix=k8s/prod\nrecipient=%s\n", g.endpoint, id.Recipient()))
	credDir := filepath.Join(dir, "creds")
	os.Mkdir(credDir, 0o700)
	writeFile(t, credDir, "s3-credentials", fmt.Sprintf("access_key_id=%s\nsecret_access_key=%s\n", g.key, g.secret))
	env := map[string]string{"CREDENTIALS_DIRECTORY": credDir, "K8SCP_BACKUP_IDENTITY": id.String()}

	// Snapshots of two masters: m1 at three times (one over the 16 MiB part size: a multipart upload), m2 once.
	type snap struct {
		name string
		size int
	}
	snaps := []snap{
		{"etcd/m1/etcd-m1-20260101T000000Z.db", 100_000},
		{"etcd/m1/etcd-m1-20260102T000000Z.db", 0},
		{"etcd/m1/etcd-m1-20260103T000000Z.db", 17*1024*1024 + 5},
		{"etcd/m2/etcd-m2-20260102T120000Z.db", 64 * 1024},
	}
	plain := map[string][]byte{}
	for _, s := range snaps {
		data := make([]byte, s.size)
		rand.Read(data)
		f := writeFile(t, dir, filepath.Base(s.name), string(data))
		out := runCLI(env, "put", "--settings", settings, "--name", s.name, f).must(t, "put "+s.name)
		key := "k8s/prod/" + s.name + ".age"
		if strings.TrimSpace(out) != key {
			t.Fatalf("put printed %q, want %q", out, key)
		}
		plain[key] = data
		// The object holds ciphertext (the plaintext is nowhere in the backend) and the sha256 metadata.
		st, err := g.client(t, g.key, g.secret).StatObject(context.Background(), "snapshots", key, minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if v, _ := metaValue(st.UserMetadata, "k8scp-sha256"); v != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: x-amz-meta-k8scp-sha256 = %q, want %x (all: %v)", key, v, sum, st.UserMetadata)
		}
		if v, _ := metaValue(st.UserMetadata, "k8scp-size"); v != fmt.Sprint(s.size) {
			t.Errorf("%s: x-amz-meta-k8scp-size = %q, want %d", key, v, s.size)
		}
		raw, err := os.ReadFile(filepath.Join(g.root, "snapshots", key))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(raw, []byte("age-encryption.org/v1\n")) || (s.size > 1000 && bytes.Contains(raw, data[:1000])) {
			t.Errorf("%s: the stored object is not age ciphertext", key)
		}
	}

	// list: everything under the prefix, newest (last-modified) first, "<RFC3339> <size> <key>".
	lines := strings.Split(strings.TrimSpace(runCLI(env, "list", "--settings", settings).must(t, "list")), "\n")
	if len(lines) != 4 {
		t.Fatalf("list: %q", lines)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 || !strings.HasSuffix(f[0], "Z") || !strings.HasPrefix(f[2], "k8s/prod/etcd/") {
			t.Errorf("list line %q", l)
		}
		if _, err := time.Parse(time.RFC3339, f[0]); err != nil {
			t.Errorf("list line %q: %v", l, err)
		}
	}
	lines = strings.Split(strings.TrimSpace(runCLI(env, "list", "--settings", settings, "--dir", "etcd/m2").must(t, "list --dir")), "\n")
	if len(lines) != 1 || !strings.HasSuffix(lines[0], " k8s/prod/etcd/m2/etcd-m2-20260102T120000Z.db.age") {
		t.Fatalf("list --dir etcd/m2: %q", lines)
	}

	// newest: by the timestamp in the name, across masters without --dir.
	if got := strings.TrimSpace(runCLI(env, "newest", "--settings", settings).must(t, "newest")); got != "k8s/prod/etcd/m1/etcd-m1-20260103T000000Z.db.age" {
		t.Fatalf("newest: %q", got)
	}
	if got := strings.TrimSpace(runCLI(env, "newest", "--settings", settings, "--dir", "etcd/m2").must(t, "newest --dir")); got != "k8s/prod/etcd/m2/etcd-m2-20260102T120000Z.db.age" {
		t.Fatalf("newest --dir etcd/m2: %q", got)
	}
	runCLI(env, "newest", "--settings", settings, "--dir", "etcd/none").mustFail(t, "newest in an empty dir", "k8s/prod/etcd/none/", "snapshots")

	// check and get of every snapshot.
	for key, data := range plain {
		out := strings.Fields(runCLI(env, "check", "--settings", settings, key).must(t, "check "+key))
		if len(out) != 3 || out[2] != key {
			t.Fatalf("check %s: %q", key, out)
		}
		dst := filepath.Join(dir, "restored.db")
		got := runCLI(env, "get", "--settings", settings, key, dst).must(t, "get "+key)
		sum := sha256.Sum256(data)
		if got != fmt.Sprintf("%x %d\n", sum, len(data)) {
			t.Fatalf("get %s printed %q", key, got)
		}
		back, _ := os.ReadFile(dst)
		if !bytes.Equal(back, data) {
			t.Fatalf("get %s: the restored file differs", key)
		}
		if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
			t.Fatalf("get %s: mode %v", key, st.Mode())
		}
		if _, err := os.Stat(dst + ".part"); !os.IsNotExist(err) {
			t.Fatalf("get %s: %s.part left behind", key, dst)
		}
	}
	key := "k8s/prod/etcd/m1/etcd-m1-20260101T000000Z.db.age"

	// Failures name what they were about.
	missing := "k8s/prod/etcd/m1/etcd-m1-20250101T000000Z.db.age"
	runCLI(env, "get", "--settings", settings, missing, filepath.Join(dir, "x")).mustFail(t, "get of a missing key", missing, "snapshots", g.endpoint)
	if _, err := os.Stat(filepath.Join(dir, "x")); !os.IsNotExist(err) {
		t.Fatal("get of a missing key created its output")
	}
	runCLI(env, "check", "--settings", settings, missing).mustFail(t, "check of a missing key", missing, "does not exist")
	wrongID := map[string]string{"CREDENTIALS_DIRECTORY": credDir, "K8SCP_BACKUP_IDENTITY": other.String()}
	runCLI(wrongID, "get", "--settings", settings, key, filepath.Join(dir, "x")).mustFail(t, "get with the wrong identity", key, "did not match any of the recipients")
	runCLI(wrongID, "check", "--settings", settings, key).mustFail(t, "check with the wrong identity", key, "did not match any of the recipients")
	noID := map[string]string{"CREDENTIALS_DIRECTORY": credDir}
	runCLI(noID, "check", "--settings", settings, key).must(t, "check without an identity (stat only)")
	runCLI(noID, "get", "--settings", settings, key, filepath.Join(dir, "x")).mustFail(t, "get without an identity", "K8SCP_BACKUP_IDENTITY")

	noBucket := writeFile(t, dir, "settings-nobucket", fmt.Sprintf("endpoint=%s\nbucket=no-such-bucket\nrecipient=%s\n", g.endpoint, id.Recipient()))
	small := writeFile(t, dir, "small.db", "small")
	runCLI(env, "put", "--settings", noBucket, "--name", "x-20260101T000000Z.db", small).mustFail(t, "put to a missing bucket", `bucket "no-such-bucket" does not exist`)
	if _, err := os.Stat(filepath.Join(g.root, "no-such-bucket")); !os.IsNotExist(err) {
		t.Fatal("put created the missing bucket")
	}

	for _, creds := range []struct{ what, key, secret string }{{"wrong secret", g.key, "not-the-secret"}, {"unknown access key", "nosuchkey", g.secret}} {
		wrong := writeFile(t, dir, "wrong", fmt.Sprintf("access_key_id=%s\nsecret_access_key=%s\n", creds.key, creds.secret))
		wenv := map[string]string{"K8SCP_BACKUP_IDENTITY": id.String()}
		runCLI(wenv, "put", "--settings", settings, "--credentials", wrong, "--name", "etcd/m1/w-20260101T000000Z.db", small).mustFail(t, "put with a "+creds.what, "refused", "snapshots")
		runCLI(wenv, "list", "--settings", settings, "--credentials", wrong).mustFail(t, "list with a "+creds.what, "refused")
		runCLI(wenv, "get", "--settings", settings, "--credentials", wrong, key, filepath.Join(dir, "x")).mustFail(t, "get with a "+creds.what, "refused", key)
		runCLI(wenv, "check", "--settings", settings, "--credentials", wrong, key).mustFail(t, "check with a "+creds.what, "refused", key)
		runCLI(wenv, "prune", "--settings", settings, "--credentials", wrong, "--dir", "etcd/m1", "--keep", "1").mustFail(t, "prune with a "+creds.what, "refused")
	}
	// Credentials from the environment work (the last source).
	runCLI(map[string]string{"AWS_ACCESS_KEY_ID": g.key, "AWS_SECRET_ACCESS_KEY": g.secret}, "check", "--settings", settings, key).must(t, "check with credentials from the environment")

	// An object whose sha256 metadata does not match its plaintext is refused, and OUT is not written.
	mc := g.client(t, g.key, g.secret)
	liar := "k8s/prod/etcd/m1/liar-20260101T000000Z.db.age"
	ct := encrypt(t, []byte("the real plaintext"), id.Recipient())
	if _, err := mc.PutObject(context.Background(), "snapshots", liar, bytes.NewReader(ct), int64(len(ct)), minio.PutObjectOptions{
		UserMetadata: map[string]string{"k8scp-sha256": strings.Repeat("0", 64), "k8scp-size": "18"},
	}); err != nil {
		t.Fatal(err)
	}
	runCLI(env, "get", "--settings", settings, liar, filepath.Join(dir, "liar")).mustFail(t, "get with a wrong sha256 in the metadata", liar, "x-amz-meta-k8scp-sha256")
	for _, p := range []string{"liar", "liar.part"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Fatalf("get with a wrong sha256 left %s", p)
		}
	}

	// A tampered object (one byte flipped in the backend's file) fails age's authentication.
	obj := filepath.Join(g.root, "snapshots", key)
	raw, _ := os.ReadFile(obj)
	raw[len(raw)-20] ^= 1
	os.WriteFile(obj, raw, 0o644)
	runCLI(env, "get", "--settings", settings, key, filepath.Join(dir, "tampered")).mustFail(t, "get of a tampered object", key, "decrypting")
	for _, p := range []string{"tampered", "tampered.part"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !os.IsNotExist(err) {
			t.Fatalf("get of a tampered object left %s", p)
		}
	}

	// prune keeps the newest N of one master's snapshots (by the name's timestamp) and leaves the others alone.
	manual := "k8s/prod/etcd/m1/manual.db.age"
	if _, err := mc.PutObject(context.Background(), "snapshots", manual, bytes.NewReader(ct), int64(len(ct)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	r := runCLI(env, "prune", "--settings", settings, "--dir", "etcd/m1", "--keep", "2").must(t, "prune")
	wantDel := "deleted k8s/prod/etcd/m1/liar-20260101T000000Z.db.age\ndeleted k8s/prod/etcd/m1/etcd-m1-20260101T000000Z.db.age\n"
	if r != wantDel {
		t.Fatalf("prune printed %q, want %q", r, wantDel)
	}
	left := runCLI(env, "list", "--settings", settings).must(t, "list after prune")
	for _, k := range []string{"etcd-m1-20260103T000000Z", "etcd-m1-20260102T000000Z", "etcd-m2-20260102T120000Z", "manual.db.age"} {
		if !strings.Contains(left, k) {
			t.Errorf("prune removed %s: %s", k, left)
		}
	}
	if strings.Contains(left, "20260101T") {
		t.Errorf("prune kept an old snapshot: %s", left)
	}
	if r := runCLI(env, "prune", "--settings", settings, "--dir", "etcd/m1", "--keep", "2").must(t, "prune again"); r != "" {
		t.Fatalf("second prune deleted %q", r)
	}
}

// A put whose source fails part-way (here: a file that changes between the hashing pass and the upload, simulated
// by a reader that breaks its promise) leaves no object behind.
func TestS3PutLeavesNothingOnFailure(t *testing.T) {
	g := startGateway(t)
	id, _ := age.GenerateX25519Identity()
	mc := g.client(t, g.key, g.secret)
	for _, size := range []int64{1000, 17 * 1024 * 1024} {
		data := make([]byte, size)
		rand.Read(data)
		sum := sha256.Sum256(data)
		changed := bytes.Clone(data)
		changed[size-1] ^= 1
		ct, ctSize, abort, wait, err := encryptStream(newVerifyingReader(bytes.NewReader(changed), size, hex.EncodeToString(sum[:]), "f"), size, id.Recipient())
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprintf("broken-%d.age", size)
		_, err = mc.PutObject(context.Background(), "snapshots", key, ct, ctSize, minio.PutObjectOptions{PartSize: partSize})
		abort()
		werr := wait()
		if err == nil {
			t.Fatalf("%d bytes: the upload of a changed file succeeded", size)
		}
		if werr == nil || !strings.Contains(werr.Error(), "changed while it was uploaded") {
			t.Fatalf("%d bytes: encrypting: %v", size, werr)
		}
		if _, err := mc.StatObject(context.Background(), "snapshots", key, minio.StatObjectOptions{}); err == nil {
			t.Fatalf("%d bytes: a failed upload left the object %s", size, key)
		}
	}
}
