// Command k8scp-backup uploads etcd snapshots, encrypted with age, to S3-compatible storage, and lists, prunes,
// checks and downloads them. See README.md for the interface.
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
)

// Version is printed by `k8scp-backup version`.
const Version = "0.1.0"

const usageText = `usage:
  k8scp-backup keygen
  k8scp-backup recipient                      (identity from $K8SCP_BACKUP_IDENTITY, else stdin)
  k8scp-backup put    --settings F --name NAME [--credentials F] [--timeout S] FILE
  k8scp-backup prune  --settings F --dir SUBPREFIX --keep N [--credentials F] [--timeout S]
  k8scp-backup list   --settings F [--dir SUBPREFIX] [--credentials F] [--timeout S]
  k8scp-backup newest --settings F [--dir SUBPREFIX] [--credentials F] [--timeout S]
  k8scp-backup get    --settings F [--identity-file F] [--credentials F] [--timeout S] KEY OUT
  k8scp-backup check  --settings F [--identity-file F] [--credentials F] [--timeout S] KEY
  k8scp-backup version
`

// exitError carries an exit code: 1 for failures, 2 for usage errors.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func usageErr(format string, a ...any) error {
	return &exitError{2, fmt.Sprintf(format, a...)}
}

// failf is a failure: "<what it was doing>: <cause>".
func failf(format string, a ...any) error { return &exitError{1, fmt.Sprintf(format, a...)} }

type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	ctx            context.Context // parent of every command's timeout context
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := (&cli{os.Stdin, os.Stdout, os.Stderr, os.Getenv, ctx}).run(os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs one command and returns the exit code, having printed any error to stderr.
func (c *cli) run(args []string) int {
	err := c.dispatch(args)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) && ee.code == 2 {
		fmt.Fprintf(c.stderr, "k8scp-backup: %s\n%s", ee.msg, usageText)
		return 2
	}
	fmt.Fprintf(c.stderr, "k8scp-backup: %s\n", err)
	return 1
}

func (c *cli) dispatch(args []string) error {
	if len(args) == 0 {
		return usageErr("no command")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "version", "--version":
		fmt.Fprintf(c.stdout, "k8scp-backup %s\n", Version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(c.stdout, usageText)
		return nil
	case "keygen":
		return c.keygen(rest)
	case "recipient":
		return c.recipient(rest)
	case "put", "prune", "list", "newest", "get", "check":
		return c.s3Command(cmd, rest)
	}
	return usageErr("unknown command %q", cmd)
}

// parseArgs parses flags and positional arguments in any order (the flag package stops at the first positional).
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func (c *cli) keygen(args []string) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	if pos, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("keygen takes no arguments")
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return failf("generating an identity: %v", err)
	}
	fmt.Fprintln(c.stdout, id.String())
	return nil
}

func (c *cli) recipient(args []string) error {
	fs := flag.NewFlagSet("recipient", flag.ContinueOnError)
	if pos, err := parseArgs(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErr("recipient takes no arguments (the identity comes from $K8SCP_BACKUP_IDENTITY or stdin)")
	}
	src, text := "K8SCP_BACKUP_IDENTITY", c.getenv("K8SCP_BACKUP_IDENTITY")
	if strings.TrimSpace(text) == "" {
		src = "stdin"
		data, err := io.ReadAll(io.LimitReader(c.stdin, 64*1024))
		if err != nil {
			return failf("reading an identity from stdin: %v", err)
		}
		text = string(data)
	}
	// The first AGE-SECRET-KEY-1 line; '#' comment lines (as age-keygen writes) are skipped.
	var line string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			line = l
			break
		}
	}
	id, err := age.ParseX25519Identity(line)
	if err != nil {
		return failf("reading an identity from %s: %v", src, err)
	}
	fmt.Fprintln(c.stdout, id.Recipient().String())
	return nil
}

// s3Command parses the flags common to the S3 commands and runs one.
func (c *cli) s3Command(cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	settingsPath := fs.String("settings", "", "settings file")
	credsPath := fs.String("credentials", "", "credentials file")
	defTimeout := 60
	if cmd == "put" || cmd == "get" {
		defTimeout = 300
	}
	timeout := fs.Int("timeout", defTimeout, "seconds")
	var name, dir, identityFile *string
	var keep *int
	want := 0
	switch cmd {
	case "put":
		name, want = fs.String("name", "", "object name"), 1
	case "prune":
		dir, keep = fs.String("dir", "", "subprefix"), fs.Int("keep", 0, "how many to keep")
	case "list", "newest":
		dir = fs.String("dir", "", "subprefix")
	case "get":
		identityFile, want = fs.String("identity-file", "", "age identity file"), 2
	case "check":
		identityFile, want = fs.String("identity-file", "", "age identity file"), 1
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != want {
		return usageErr("%s takes %d argument(s), got %d: %q", cmd, want, len(pos), pos)
	}
	if *settingsPath == "" {
		return usageErr("%s: --settings FILE is required", cmd)
	}
	if *timeout <= 0 {
		return usageErr("%s: --timeout must be a positive number of seconds", cmd)
	}
	if name != nil {
		if err := checkPath("--name", *name, false); err != nil {
			return usageErr("%s: %v", cmd, err)
		}
	}
	if dir != nil {
		if err := checkPath("--dir", *dir, cmd != "prune"); err != nil {
			return usageErr("%s: %v", cmd, err)
		}
	}
	if keep != nil && *keep < 1 {
		return usageErr("prune: --keep N is required, N >= 1")
	}

	s, err := LoadSettings(*settingsPath)
	if err != nil {
		return failf("reading settings: %v", err)
	}
	var ids []age.Identity
	switch cmd {
	case "put":
		if s.Recipient == "" {
			return failf("put: settings %s: recipient (age1...) is required to encrypt", *settingsPath)
		}
	case "get":
		if ids, err = LoadIdentities(c.getenv, *identityFile); err != nil {
			return failf("get: %v", err)
		}
	case "check":
		// The identity is optional for check: when there is one, check also opens the object's age header with it.
		if *identityFile != "" || strings.TrimSpace(c.getenv("K8SCP_BACKUP_IDENTITY")) != "" {
			if ids, err = LoadIdentities(c.getenv, *identityFile); err != nil {
				return failf("check: %v", err)
			}
		}
	}
	creds, err := LoadCredentials(c.getenv, *credsPath)
	if err != nil {
		return failf("%s: %v", cmd, err)
	}
	mc, err := newClient(s, creds)
	if err != nil {
		return failf("%s: connecting to %s: %v", cmd, s.Where(""), err)
	}
	ctx, cancel := context.WithTimeout(c.ctx, time.Duration(*timeout)*time.Second)
	defer cancel()
	op := &op{c: c, s: s, mc: mc, ctx: ctx, timeout: *timeout}
	switch cmd {
	case "put":
		return op.put(*name, pos[0])
	case "prune":
		return op.prune(*dir, *keep)
	case "list":
		return op.list(*dir)
	case "newest":
		return op.newest(*dir)
	case "get":
		return op.get(pos[0], pos[1], ids)
	default:
		return op.check(pos[0], ids)
	}
}

type op struct {
	c       *cli
	s       *Settings
	mc      *minio.Client
	ctx     context.Context
	timeout int
}

func (o *op) fail(what, key string, err error) error {
	return failf("%s (%s): %v", what, o.s.Where(key), explain(o.ctx, err, o.s, key, o.timeout))
}

func (o *op) put(name, file string) error {
	key := o.s.ObjectKey(name)
	what := fmt.Sprintf("uploading %s", file)
	rcpt, err := age.ParseX25519Recipient(o.s.Recipient)
	if err != nil {
		return failf("%s: recipient: %v", what, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return failf("%s: %v", what, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return failf("%s: %v", what, err)
	} else if !st.Mode().IsRegular() {
		return failf("%s: not a regular file", what)
	}
	sum, size, err := hashFile(f)
	if err != nil {
		return failf("%s: reading it: %v", what, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return failf("%s: %v", what, err)
	}
	ct, ctSize, abort, wait, err := encryptStream(newVerifyingReader(f, size, sum, file), size, rcpt)
	if err != nil {
		return failf("%s: encrypting: %v", what, err)
	}
	info, err := o.mc.PutObject(o.ctx, o.s.Bucket, key, ct, ctSize, minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{"k8scp-sha256": sum, "k8scp-size": strconv.FormatInt(size, 10)},
		PartSize:     partSize,
	})
	abort()
	encErr := wait()
	if err != nil {
		if encErr != nil && !strings.Contains(err.Error(), encErr.Error()) {
			err = fmt.Errorf("%w (reading and encrypting: %v)", err, encErr)
		}
		return o.fail(what, key, err)
	}
	if encErr != nil {
		return o.fail(what, key, encErr)
	}
	if info.Size != ctSize {
		return o.fail(what, key, fmt.Errorf("the server stored %d bytes, %d were sent", info.Size, ctSize))
	}
	fmt.Fprintln(o.c.stdout, key)
	return nil
}

func (o *op) prune(dir string, keep int) error {
	prefix := o.s.ListPrefix(dir)
	objs, err := listAll(o.ctx, o.mc, o.s.Bucket, prefix, true)
	if err != nil {
		return o.fail("pruning: listing", prefix, err)
	}
	keys := make([]string, len(objs))
	for i, ob := range objs {
		keys[i] = ob.Key
	}
	del, undated := pruneSet(keys, keep)
	for _, k := range undated {
		fmt.Fprintf(o.c.stderr, "k8scp-backup: prune: note: leaving %s alone (no YYYYmmddTHHMMSSZ timestamp in its name)\n", k)
	}
	for _, k := range del {
		if err := o.mc.RemoveObject(o.ctx, o.s.Bucket, k, minio.RemoveObjectOptions{}); err != nil {
			return o.fail("pruning: deleting", k, err)
		}
		fmt.Fprintf(o.c.stdout, "deleted %s\n", k)
	}
	return nil
}

func objLine(t time.Time, size int64, key string) string {
	return fmt.Sprintf("%s %d %s", t.UTC().Format(time.RFC3339), size, key)
}

// list prints every object under the prefix (recursively), newest first by last-modified time (ties: key descending).
func (o *op) list(dir string) error {
	prefix := o.s.ListPrefix(dir)
	objs, err := listAll(o.ctx, o.mc, o.s.Bucket, prefix, false)
	if err != nil {
		return o.fail("listing", prefix, err)
	}
	sort.Slice(objs, func(i, j int) bool {
		if !objs[i].LastModified.Equal(objs[j].LastModified) {
			return objs[i].LastModified.After(objs[j].LastModified)
		}
		return objs[i].Key > objs[j].Key
	})
	for _, ob := range objs {
		fmt.Fprintln(o.c.stdout, objLine(ob.LastModified, ob.Size, ob.Key))
	}
	return nil
}

func (o *op) newest(dir string) error {
	prefix := o.s.ListPrefix(dir)
	objs, err := listAll(o.ctx, o.mc, o.s.Bucket, prefix, false)
	if err != nil {
		return o.fail("finding the newest snapshot: listing", prefix, err)
	}
	keys := make([]string, len(objs))
	for i, ob := range objs {
		keys[i] = ob.Key
	}
	s, _ := sortSnapshots(keys)
	if len(s) == 0 {
		return failf("finding the newest snapshot (%s): no .age object with a YYYYmmddTHHMMSSZ timestamp in its name under %q", o.s.Where(""), prefix)
	}
	fmt.Fprintln(o.c.stdout, s[0])
	return nil
}

func (o *op) get(key, out string, ids []age.Identity) error {
	what := fmt.Sprintf("downloading to %s", out)
	obj, err := o.mc.GetObject(o.ctx, o.s.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return o.fail(what, key, err)
	}
	defer obj.Close()
	info, err := obj.Stat() // a HEAD; the GET that follows is made with If-Match on its ETag
	if err != nil {
		return o.fail(what, key, o.headError(key, err))
	}
	wantSum, hasSum := metaValue(info.UserMetadata, "k8scp-sha256")
	wantSize, hasSize := metaValue(info.UserMetadata, "k8scp-size")
	dec, err := age.Decrypt(obj, ids...)
	if err != nil {
		var r minio.ErrorResponse
		if errors.As(err, &r) {
			return o.fail(what, key, err)
		}
		return o.fail(what, key, fmt.Errorf("decrypting: %w", err))
	}
	part := out + ".part"
	_ = os.Remove(part)
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return o.fail(what, key, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(part)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), dec)
	if err != nil {
		return o.fail(what, key, fmt.Errorf("decrypting: %w", err))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if hasSum && !strings.EqualFold(wantSum, sum) {
		return o.fail(what, key, fmt.Errorf("the plaintext's sha256 is %s but the object's x-amz-meta-k8scp-sha256 says %s", sum, wantSum))
	}
	if hasSize && wantSize != strconv.FormatInt(n, 10) {
		return o.fail(what, key, fmt.Errorf("the plaintext has %d bytes but the object's x-amz-meta-k8scp-size says %s", n, wantSize))
	}
	if err := f.Sync(); err != nil {
		return o.fail(what, key, err)
	}
	if err := f.Close(); err != nil {
		return o.fail(what, key, err)
	}
	if err := os.Rename(part, out); err != nil {
		return o.fail(what, key, err)
	}
	ok = true
	if d, err := os.Open(filepath.Dir(out)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	if !hasSum {
		fmt.Fprintf(o.c.stderr, "k8scp-backup: note: %s has no x-amz-meta-k8scp-sha256; only age's authentication checked it\n", key)
	}
	fmt.Fprintf(o.c.stdout, "%s %d\n", sum, n)
	return nil
}

// headError improves a HEAD's error: it has no body, so minio-go calls every 404 NoSuchKey, and versitygw answers
// an unknown access key with a 404 too. A listing's error has a body: when one fails, its cause is the one to report.
func (o *op) headError(key string, err error) error {
	var r minio.ErrorResponse
	if errors.As(err, &r) && r.Code == "NoSuchKey" {
		for lo := range o.mc.ListObjects(o.ctx, o.s.Bucket, minio.ListObjectsOptions{Prefix: key, MaxKeys: 1}) {
			if lo.Err != nil {
				return lo.Err
			}
			break
		}
	}
	return err
}

// check stats KEY; with an identity it also opens the object's age header with it (reading its first few KiB).
func (o *op) check(key string, ids []age.Identity) error {
	what := "checking"
	info, err := o.mc.StatObject(o.ctx, o.s.Bucket, key, minio.StatObjectOptions{})
	if err != nil {
		err = o.headError(key, err)
		return o.fail(what, key, err)
	}
	if len(ids) > 0 {
		// Only the first 64 KiB: the header (a few hundred bytes for one X25519 recipient) and the nonce.
		opts := minio.GetObjectOptions{}
		if err := opts.SetRange(0, 64*1024-1); err != nil {
			return o.fail(what, key, err)
		}
		if err := opts.SetMatchETag(info.ETag); err != nil {
			return o.fail(what, key, err)
		}
		obj, err := o.mc.GetObject(o.ctx, o.s.Bucket, key, opts)
		if err != nil {
			return o.fail(what, key, err)
		}
		_, err = age.Decrypt(obj, ids...)
		obj.Close()
		if err != nil {
			return o.fail(what+" that the identity opens it", key, fmt.Errorf("decrypting: %w", err))
		}
	}
	fmt.Fprintln(o.c.stdout, objLine(info.LastModified, info.Size, key))
	return nil
}
