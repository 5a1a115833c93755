package remote

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	gossh "golang.org/x/crypto/ssh"
)

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCommandLifecycle(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	base := map[string]property.Value{
		"create": str(`cat > created.txt; echo "created:$FOO"; echo create-warning >&2`),
		"update": str(`echo "updated prev=$PULUMI_COMMAND_STDOUT preverr=$PULUMI_COMMAND_STDERR stdin=$(cat)"`),
		"delete": str(`echo "$PULUMI_COMMAND_STDOUT|$PULUMI_COMMAND_STDERR" > deleted.txt`),
		"stdin":  str("first-stdin").WithSecret(true),
		"environment": obj(map[string]property.Value{
			"FOO": str("bar"),
		}),
	}
	inputs := func(overrides map[string]property.Value) property.Map {
		m := map[string]property.Value{"connection": connection(ts, nil)}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range overrides {
			m[k] = v
		}
		return props(m)
	}

	// Preview runs nothing and leaves stdout unknown.
	prev := h.preview(commandType, "cmd", inputs(nil))
	if n := len(ts.Commands()); n != 0 {
		t.Fatalf("preview ran %d commands", n)
	}
	if !prev.Get("stdout").IsComputed() {
		t.Errorf("preview stdout should be unknown, got %v", prev.Get("stdout"))
	}

	// Create runs create, with stdin and environment.
	r := h.mustCreate(commandType, "cmd", inputs(nil))
	if got := outString(t, r.outputs, "stdout"); got != "created:bar" {
		t.Errorf("stdout = %q", got)
	}
	if got := outString(t, r.outputs, "stderr"); got != "create-warning" {
		t.Errorf("stderr = %q", got)
	}
	if got := readFile(t, filepath.Join(ts.Home, "created.txt")); got != "first-stdin" {
		t.Errorf("stdin delivered %q", got)
	}
	if !r.outputs.Get("connection").Secret() {
		t.Error("connection output is not secret")
	}
	if !r.outputs.Get("stdin").Secret() {
		t.Error("secret stdin input is not secret in the outputs")
	}
	if !r.inputs.Get("connection").Secret() {
		t.Error("checked connection input is not secret")
	}
	if got := ts.Commands(); len(got) != 1 || !strings.HasPrefix(got[0], "cat > created.txt") {
		t.Errorf("commands run: %q", got)
	}

	// The same inputs again: no changes (so `preview --expect-no-changes` passes).
	if _, d := h.diff(r, inputs(nil)); d.HasChanges || len(d.DetailedDiff) != 0 {
		t.Errorf("unchanged inputs diff: changes=%v %v", d.HasChanges, diffKinds(d))
	}

	// Changing stdin is an in-place update, which runs update with the previous outputs in env.
	changed := inputs(map[string]property.Value{"stdin": str("second-stdin").WithSecret(true)})
	_, d := h.diff(r, changed)
	if !d.HasChanges || isReplace(d) || d.DetailedDiff["stdin"].Kind != "update" {
		t.Errorf("stdin change diff: changes=%v %v", d.HasChanges, diffKinds(d))
	}
	out, err := h.update(r, changed, true)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ts.Commands()); n != 1 {
		t.Fatalf("preview update ran a command (%d run)", n)
	}
	// The preview shows the new inputs (stdin still secret) and leaves the outputs of the update unknown.
	if v := out.Get("stdin"); !v.Secret() || !v.IsString() || v.AsString() != "second-stdin" {
		t.Errorf("preview update stdin = %v", v)
	}
	for _, k := range []string{"stdout", "stderr"} {
		if !out.Get(k).IsComputed() {
			t.Errorf("preview update %s = %v, want unknown", k, out.Get(k))
		}
	}
	if _, err := h.update(r, changed, false); err != nil {
		t.Fatal(err)
	}
	want := "updated prev=created:bar preverr=create-warning stdin=second-stdin"
	if got := outString(t, r.outputs, "stdout"); got != want {
		t.Errorf("update stdout = %q, want %q", got, want)
	}

	// Triggers: adding them, and changing one element, both replace.
	withTriggers := inputs(map[string]property.Value{"stdin": str("second-stdin").WithSecret(true), "triggers": arr(str("a"), num(1))})
	if _, d := h.diff(r, withTriggers); !isReplace(d) {
		t.Errorf("adding triggers should replace: %v", diffKinds(d))
	}
	if _, err := h.update(r, withTriggers, false); err != nil {
		t.Fatal(err)
	}
	if _, d := h.diff(r, withTriggers); d.HasChanges {
		t.Errorf("same triggers should not change: %v", diffKinds(d))
	}
	otherTriggers := inputs(map[string]property.Value{"stdin": str("second-stdin").WithSecret(true), "triggers": arr(str("a"), num(2))})
	if _, d := h.diff(r, otherTriggers); !isReplace(d) || !d.HasChanges {
		t.Errorf("changing a trigger element should replace: %v", diffKinds(d))
	}
	moreTriggers := inputs(map[string]property.Value{"stdin": str("second-stdin").WithSecret(true), "triggers": arr(str("a"), num(1), str("x"))})
	if _, d := h.diff(r, moreTriggers); !isReplace(d) {
		t.Errorf("appending a trigger should replace: %v", diffKinds(d))
	}

	// Delete runs delete with the last outputs in its environment.
	if err := h.delete(r); err != nil {
		t.Fatal(err)
	}
	lastStdout := outString(t, r.outputs, "stdout")
	if got := readFile(t, filepath.Join(ts.Home, "deleted.txt")); got != lastStdout+"|\n" {
		t.Errorf("delete saw %q, want %q", got, lastStdout+"|\n")
	}
}

func TestUpdateWithoutUpdateCommandRunsCreate(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	in := func(msg string) property.Map {
		return props(map[string]property.Value{
			"connection": connection(ts, nil),
			"create":     str("echo " + msg + " >> runs.txt; echo " + msg),
		})
	}
	r := h.mustCreate(commandType, "c", in("one"))
	_, d := h.diff(r, in("two"))
	if isReplace(d) || d.DetailedDiff["create"].Kind != "update" {
		t.Errorf("create change diff: %v", diffKinds(d))
	}
	if _, err := h.update(r, in("two"), false); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(ts.Home, "runs.txt")); got != "one\ntwo\n" {
		t.Errorf("runs = %q", got)
	}
	if got := outString(t, r.outputs, "stdout"); got != "two" {
		t.Errorf("stdout = %q", got)
	}
	// No delete command: deleting runs nothing.
	n := len(ts.Commands())
	if err := h.delete(r); err != nil {
		t.Fatal(err)
	}
	if len(ts.Commands()) != n {
		t.Error("delete without a delete command ran something")
	}
}

func TestAddPreviousOutputInEnvFalse(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	r := h.mustCreate(commandType, "c", props(map[string]property.Value{
		"connection":             connection(ts, nil),
		"create":                 str("echo out"),
		"delete":                 str(`echo "[${PULUMI_COMMAND_STDOUT-unset}]" > deleted.txt`),
		"addPreviousOutputInEnv": property.New(false),
	}))
	if err := h.delete(r); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(ts.Home, "deleted.txt")); got != "[unset]\n" {
		t.Errorf("delete saw %q", got)
	}
}

func TestFailingCommand(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	in := props(map[string]property.Value{
		"connection": connection(ts, nil),
		"create":     str("echo visible-out; echo visible-err >&2; exit 3"),
	})
	_, err := h.create(commandType, "c", in)
	if err == nil {
		t.Fatal("a failing create succeeded")
	}
	t.Logf("failure: %v", err)
	for _, want := range []string{"status 3", "visible-out", "visible-err", ts.Addr()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// Default logging streams the output (the positive control for TestLoggingNone).
	if logs := h.logs.Text(); !strings.Contains(logs, "visible-out") || !strings.Contains(logs, "visible-err") {
		t.Errorf("default logging did not log the output:\n%s", logs)
	}

	// A failing update is an error too, and the old state stays.
	r := h.mustCreate(commandType, "ok", props(map[string]property.Value{
		"connection": connection(ts, nil), "create": str("echo fine"),
	}))
	_, err = h.update(r, props(map[string]property.Value{
		"connection": connection(ts, nil), "create": str("echo fine"), "update": str("exit 7"),
	}), false)
	if err == nil || !strings.Contains(err.Error(), "status 7") {
		t.Errorf("failing update: %v", err)
	}
	// The harness checked that the failed update returned no state; the engine so keeps the old one, and the next
	// update sees its outputs.
	if _, err := h.update(r, props(map[string]property.Value{
		"connection": connection(ts, nil), "create": str("echo fine"), "update": str(`echo "after:$PULUMI_COMMAND_STDOUT"`),
	}), false); err != nil {
		t.Fatal(err)
	}
	if got := outString(t, r.outputs, "stdout"); got != "after:fine" {
		t.Errorf("the update after a failed one saw stdout %q, want after:fine", got)
	}
	// A failing delete is an error.
	r.outputs = r.outputs.Set("delete", str("exit 5"))
	if err := h.delete(r); err == nil || !strings.Contains(err.Error(), "status 5") {
		t.Errorf("failing delete: %v", err)
	}
}

func TestLoggingNone(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	r := h.mustCreate(commandType, "quiet", props(map[string]property.Value{
		"connection": connection(ts, nil),
		"create":     str("echo hush-out; echo hush-err >&2"),
		"logging":    str("none"),
	}))
	if got := outString(t, r.outputs, "stdout"); got != "hush-out" {
		t.Errorf("stdout still captured as output: got %q", got)
	}
	_, err := h.create(commandType, "quiet-fail", props(map[string]property.Value{
		"connection": connection(ts, nil),
		"create":     str("cat; echo hush-fail-err >&2; exit 4"),
		"stdin":      str("hush-stdin-secret").WithSecret(true),
		"logging":    str("none"),
	}))
	if err == nil {
		t.Fatal("failing create succeeded")
	}
	t.Logf("logging none failure: %v", err)
	if !strings.Contains(err.Error(), "status 4") {
		t.Errorf("error lacks the exit status: %v", err)
	}
	for _, secret := range []string{"hush", "cat;"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks %q: %v", secret, err)
		}
	}
	if logs := h.logs.Text(); strings.Contains(logs, "hush") {
		t.Errorf("logging none logged output:\n%s", logs)
	}
}

func TestLoggingStdoutOnly(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	h.mustCreate(commandType, "c", props(map[string]property.Value{
		"connection": connection(ts, nil),
		"create":     str("echo shown-line; echo hidden-line >&2; printf tail-no-newline"),
		"logging":    str("stdout"),
	}))
	logs := h.logs.Text()
	if !strings.Contains(logs, "shown-line") || !strings.Contains(logs, "tail-no-newline") {
		t.Errorf("stdout not logged:\n%s", logs)
	}
	if strings.Contains(logs, "hidden-line") {
		t.Errorf("stderr logged with logging=stdout:\n%s", logs)
	}
}

func TestEnvironmentRefusedByServer(t *testing.T) {
	ts := startServer(t, refusingEnv())
	h := newHarness(t)
	_, err := h.create(commandType, "env", props(map[string]property.Value{
		"connection":  connection(ts, nil),
		"create":      str("echo never"),
		"environment": obj(map[string]property.Value{"FOO": str("bar")}),
	}))
	if err == nil || !strings.Contains(err.Error(), "AcceptEnv") || !strings.Contains(err.Error(), `"FOO"`) {
		t.Errorf("refused environment: %v", err)
	}
	if n := len(ts.Commands()); n != 0 {
		t.Errorf("command ran although its environment could not be set")
	}
	// The previous outputs are optional: delete still runs, with a warning.
	r := h.mustCreate(commandType, "prev", props(map[string]property.Value{
		"connection": connection(ts, nil),
		"create":     str("echo out"),
		"delete":     str("echo deleted > deleted.txt"),
	}))
	if err := h.delete(r); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(ts.Home, "deleted.txt")) != "deleted\n" {
		t.Error("delete did not run")
	}
	if logs := h.logs.Text(); !strings.Contains(logs, "WARN") || !strings.Contains(logs, "PULUMI_COMMAND_STDOUT") {
		t.Errorf("no warning about PULUMI_COMMAND_STDOUT:\n%s", logs)
	}
}

func TestHostKey(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	good := hostKeyLine(ts.HostKey) + " comment@host"
	r := h.mustCreate(commandType, "pinned", props(map[string]property.Value{
		"connection": connection(ts, map[string]property.Value{"hostKey": str(good)}),
		"create":     str("echo pinned-ok"),
	}))
	if outString(t, r.outputs, "stdout") != "pinned-ok" {
		t.Error("pinned host key: command did not run")
	}

	other, _ := newKeyPair(t)
	start := time.Now()
	_, err := h.create(commandType, "wrong", props(map[string]property.Value{
		"connection": connection(ts, map[string]property.Value{"hostKey": str(hostKeyLine(other.PublicKey()))}),
		"create":     str("echo must-not-run"),
	}))
	if err == nil {
		t.Fatal("wrong host key accepted")
	}
	t.Logf("wrong host key: %v", err)
	for _, want := range []string{ts.Addr(), "host key does not match"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("a host key mismatch was retried (%s)", time.Since(start))
	}
	for _, c := range ts.Commands() {
		if strings.Contains(c, "must-not-run") {
			t.Error("command ran on a host with the wrong key")
		}
	}

	// A known_hosts line works as well; garbage is a clear error.
	h.mustCreate(commandType, "known-hosts", props(map[string]property.Value{
		"connection": connection(ts, map[string]property.Value{"hostKey": str("[127.0.0.1]:22 " + hostKeyLine(ts.HostKey))}),
		"create":     str("true"),
	}))
	_, err = h.create(commandType, "garbage", props(map[string]property.Value{
		"connection": connection(ts, map[string]property.Value{"hostKey": str("AAAA")}),
		"create":     str("true"),
	}))
	if err == nil || !strings.Contains(err.Error(), "hostKey") {
		t.Errorf("garbage host key: %v", err)
	}
}

func TestDialRetriesAreBounded(t *testing.T) {
	host, port, conns := blackHole(t)
	h := newHarness(t)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := h.create(commandType, "unreachable", props(map[string]property.Value{
			"connection": obj(map[string]property.Value{
				"host": str(host), "port": num(port), "user": str("x"), "password": str("y"),
				"dialErrorLimit": num(2), "perDialTimeout": num(1),
			}).WithSecret(true),
			"create": str("true"),
		}))
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("dialing a silent port did not give up within 20s")
	}
	elapsed := time.Since(start)
	if err == nil {
		t.Fatal("dial to a silent port succeeded")
	}
	t.Logf("silent port: %v", err)
	addr := host + ":" + strconv.Itoa(port)
	for _, want := range []string{addr, "3 failed attempts", "timed out"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("dialErrorLimit 2 made %d attempts, want 3", n)
	}
	// 3 attempts of 1s, plus backoff delays of 0.1s and 0.15s.
	if elapsed < 3*time.Second || elapsed > 6*time.Second {
		t.Errorf("took %s, want about 3.25s", elapsed)
	}
}

func TestDialRefusedNamesHostAndPort(t *testing.T) {
	port := closedPort(t)
	h := newHarness(t)
	_, err := h.create(commandType, "refused", props(map[string]property.Value{
		"connection": obj(map[string]property.Value{
			"host": str("127.0.0.1"), "port": num(port), "password": str("y"), "dialErrorLimit": num(1),
		}).WithSecret(true),
		"create": str("true"),
	}))
	if err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	t.Logf("closed port: %v", err)
	for _, want := range []string{"127.0.0.1:" + strconv.Itoa(port), "as root", "2 failed attempts", "refused"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), `"y"`) {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestPasswordAuthentication(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	r := h.mustCreate(commandType, "pw", props(map[string]property.Value{
		"connection": connection(ts, map[string]property.Value{"privateKey": property.Value{}, "password": str(testPassword)}),
		"create":     str("echo via-password"),
	}))
	if outString(t, r.outputs, "stdout") != "via-password" {
		t.Error("password login did not run the command")
	}
	_, err := h.create(commandType, "badpw", props(map[string]property.Value{
		"connection": connection(ts, map[string]property.Value{
			"privateKey": property.Value{}, "password": str("wrong"), "dialErrorLimit": num(0),
		}),
		"create": str("true"),
	}))
	if err == nil || !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("wrong password: %v", err)
	}
}

func TestProxyConnection(t *testing.T) {
	bastion := startServer(t, withForwarding())
	target := startServer(t)
	h := newHarness(t)
	r := h.mustCreate(commandType, "via-bastion", props(map[string]property.Value{
		"connection": connection(target, map[string]property.Value{
			"hostKey": str(hostKeyLine(target.HostKey)),
			"proxy": obj(map[string]property.Value{
				"host": str(bastion.Host), "port": num(bastion.Port), "user": str("jump"),
				"password": str(testPassword), "hostKey": str(hostKeyLine(bastion.HostKey)),
			}),
		}),
		"create": str("echo through-bastion"),
	}))
	if outString(t, r.outputs, "stdout") != "through-bastion" {
		t.Error("proxied command did not run")
	}
	if len(target.Commands()) != 1 || len(bastion.Commands()) != 0 {
		t.Errorf("commands: target %q, bastion %q", target.Commands(), bastion.Commands())
	}
}

// The library's delete steps are scripts on stdin (`sudo -n bash -s -- delete`): delete gets the stdin too, in both
// modes.
func TestStdinOnDelete(t *testing.T) {
	bothModes(t, func(t *testing.T, _ bool) {
		ts := startServer(t)
		h := newHarness(t)
		in := func(script string) property.Map {
			return props(map[string]property.Value{
				"connection": connection(ts, nil),
				"create":     str("sh -s -- create"),
				"update":     str("sh -s -- update"),
				"delete":     str("sh -s -- delete"),
				"stdin":      str(script).WithSecret(true),
			})
		}
		script := func(v string) string { return `echo "` + v + `:$1" >> log.txt` }
		r := h.mustCreate(commandType, "c", in(script("one")))
		if _, err := h.update(r, in(script("two")), false); err != nil {
			t.Fatal(err)
		}
		if err := h.delete(r); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, filepath.Join(ts.Home, "log.txt")); got != "one:create\ntwo:update\ntwo:delete\n" {
			t.Errorf("the scripts ran as %q", got)
		}
	})
}

// An encrypted private key: privateKeyPassword decrypts it; without it, or with a wrong one, a clear error and no
// dial at all.
func TestPrivateKeyPassword(t *testing.T) {
	ts := startServer(t)
	h := newHarness(t)
	raw, err := gossh.ParseRawPrivateKey([]byte(ts.ClientKey))
	if err != nil {
		t.Fatal(err)
	}
	enc, err := gossh.MarshalPrivateKeyWithPassphrase(raw, "", []byte("key passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	encrypted := string(pem.EncodeToMemory(enc))
	r := h.mustCreate(commandType, "enc", props(map[string]property.Value{
		"connection": connection(ts, map[string]property.Value{
			"privateKey": str(encrypted), "privateKeyPassword": str("key passphrase"),
		}),
		"create": str("echo decrypted"),
	}))
	if outString(t, r.outputs, "stdout") != "decrypted" {
		t.Error("the command did not run")
	}
	if !r.outputs.Get("connection").Secret() {
		t.Error("connection not secret")
	}
	for name, pw := range map[string]property.Value{"missing": {}, "wrong": str("not it")} {
		conns := ts.tcpConns.Load()
		_, err := h.create(commandType, name, props(map[string]property.Value{
			"connection": connection(ts, map[string]property.Value{"privateKey": str(encrypted), "privateKeyPassword": pw}),
			"create":     str("true"),
		}))
		if err == nil || !strings.Contains(err.Error(), "privateKey") {
			t.Errorf("%s passphrase: %v", name, err)
		}
		if strings.Contains(fmt.Sprint(err), "not it") {
			t.Errorf("%s passphrase: the error shows it: %v", name, err)
		}
		if n := ts.tcpConns.Load(); n != conns {
			t.Errorf("%s passphrase: dialled %d times", name, n-conns)
		}
	}
}
