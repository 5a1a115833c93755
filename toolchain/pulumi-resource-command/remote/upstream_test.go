package remote

import (
	"crypto/rand"
	"crypto/rsa"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	gossh "golang.org/x/crypto/ssh"
)

// setUpstream switches upstream mode for one test (the tests of this package do not run in parallel) and closes the
// connections upstream mode left open.
func setUpstream(t *testing.T, on bool) {
	t.Helper()
	prev := upstream
	upstream = on
	t.Cleanup(func() {
		upstream = prev
		leftOpen.closeAll()
	})
}

// bothModes runs f once in the default mode and once in upstream mode.
func bothModes(t *testing.T, f func(t *testing.T, up bool)) {
	for _, up := range []bool{false, true} {
		name := "default"
		if up {
			name = "upstream"
		}
		t.Run(name, func(t *testing.T) {
			setUpstream(t, up)
			f(t, up)
		})
	}
}

// eventually waits up to 5s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("timed out waiting for %s", what)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The plugin process reads K8SCP_COMMAND_UPSTREAM when it starts: a child process of this test binary reports the
// mode it started in.
func TestUpstreamModeIsReadFromTheEnvironmentAtStart(t *testing.T) {
	if os.Getenv("K8SCP_TEST_REPORT_MODE") == "1" {
		if Upstream() {
			os.Stdout.WriteString("mode=upstream\n")
		} else {
			os.Stdout.WriteString("mode=default\n")
		}
		return
	}
	for value, want := range map[string]string{"1": "upstream", "": "default", "0": "default", "yes": "default"} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUpstreamModeIsReadFromTheEnvironmentAtStart$")
		cmd.Env = append(os.Environ(), "K8SCP_TEST_REPORT_MODE=1", UpstreamEnv+"="+value)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s=%q: %v\n%s", UpstreamEnv, value, err, out)
		}
		if !strings.Contains(string(out), "mode="+want+"\n") {
			t.Errorf("%s=%q started in the wrong mode, want %s:\n%s", UpstreamEnv, value, want, out)
		}
	}
}

// Upstream dials a new connection for every operation and never closes a Command's; the default mode shares one.
func TestConnectionsPerOperation(t *testing.T) {
	bothModes(t, func(t *testing.T, up bool) {
		ts := startServer(t)
		h := newHarness(t)
		in := func(stdin string) property.Map {
			return props(map[string]property.Value{
				"connection": connection(ts, nil),
				"create":     str("cat"),
				"delete":     str("cat > deleted.txt"),
				"stdin":      str(stdin),
			})
		}
		r := h.mustCreate(commandType, "c", in("one"))
		if _, err := h.update(r, in("two"), false); err != nil {
			t.Fatal(err)
		}
		if err := h.delete(r); err != nil {
			t.Fatal(err)
		}
		cp := h.mustCreate(copyType, "copy", copyInputs(ts, textAsset(t, "hello"), ts.Home+"/a.txt", nil))
		if _, err := h.update(cp, copyInputs(ts, textAsset(t, "hello"), ts.Home+"/b.txt", nil), false); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, filepath.Join(ts.Home, "b.txt")); got != "hello" {
			t.Errorf("copied %q", got)
		}
		if up {
			// Five operations, five connections; the three of the Command stay open, the copies' are closed.
			wantConnsAndCommands(t, ts, 5, 3)
			eventually(t, "the copies' connections to close", func() bool { return ts.liveConns.Load() == 3 })
			if n := ts.liveConns.Load(); n != 3 {
				t.Errorf("%d connections open, want the 3 of the Command", n)
			}
		} else {
			wantConnsAndCommands(t, ts, 1, 3)
		}
	})
}

// slowProxy relays TCP connections to target after holding each for delay (a host that is slow to start its sshd
// handshake, or a congested link).
func slowProxy(t *testing.T, target string, delay time.Duration) (string, int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				select {
				case <-time.After(delay):
				case <-done:
					return
				}
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c); _ = u.Close() }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		_ = l.Close()
	})
	return "127.0.0.1", l.Addr().(*net.TCPAddr).Port
}

// perDialTimeout bounds the handshake in the default mode only: a server that answers after 2s with a limit of 1s.
func TestPerDialTimeoutAndTheHandshake(t *testing.T) {
	bothModes(t, func(t *testing.T, up bool) {
		ts := startServer(t)
		host, port := slowProxy(t, ts.Addr(), 2*time.Second)
		h := newHarness(t)
		start := time.Now()
		r, err := h.create(commandType, "slow", props(map[string]property.Value{
			"connection": connection(ts, map[string]property.Value{
				"host": str(host), "port": num(port), "perDialTimeout": num(1), "dialErrorLimit": num(0),
			}),
			"create": str("echo through"),
		}))
		t.Logf("took %s: %v", time.Since(start), err)
		if up {
			if err != nil {
				t.Fatalf("upstream mode bounded the handshake: %v", err)
			}
			if outString(t, r.outputs, "stdout") != "through" {
				t.Error("command did not run")
			}
		} else if err == nil || !strings.Contains(err.Error(), "ssh handshake with") || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("the default mode did not bound the handshake: %v", err)
		}
	})
}

// A host key that does not match: the default mode gives up at once, upstream dials dialErrorLimit+1 times.
func TestWrongHostKeyRetries(t *testing.T) {
	bothModes(t, func(t *testing.T, up bool) {
		ts := startServer(t)
		h := newHarness(t)
		other, _ := newKeyPair(t)
		_, err := h.create(commandType, "wrong", props(map[string]property.Value{
			"connection": connection(ts, map[string]property.Value{
				"hostKey": str(hostKeyLine(other.PublicKey())), "dialErrorLimit": num(2),
			}),
			"create": str("echo must-not-run"),
		}))
		if err == nil || !strings.Contains(err.Error(), "host key does not match") {
			t.Fatalf("wrong host key: %v", err)
		}
		t.Logf("wrong host key: %v", err)
		want := int32(1)
		if up {
			want = 3
			if !strings.Contains(err.Error(), "3 failed attempts") {
				t.Errorf("error %q does not count 3 attempts", err)
			}
		}
		if n := ts.tcpConns.Load(); n != want {
			t.Errorf("%d connections for a wrong host key, want %d", n, want)
		}
		if len(ts.Commands()) != 0 {
			t.Error("a command ran on a host with the wrong key")
		}
	})
}

// recordingSigner is an RSA host key that signs with the given algorithms and records the ones the client chose.
type recordingSigner struct {
	gossh.AlgorithmSigner
	algos []string
	mu    sync.Mutex
	used  []string
}

func (s *recordingSigner) Algorithms() []string { return s.algos }

func (s *recordingSigner) SignWithAlgorithm(r io.Reader, data []byte, algo string) (*gossh.Signature, error) {
	s.mu.Lock()
	s.used = append(s.used, algo)
	s.mu.Unlock()
	return s.AlgorithmSigner.SignWithAlgorithm(r, data, algo)
}

// Sign is what the server calls for the algorithm named like the key type (ssh-rsa).
func (s *recordingSigner) Sign(r io.Reader, data []byte) (*gossh.Signature, error) {
	sig, err := s.AlgorithmSigner.Sign(r, data)
	if err == nil {
		s.mu.Lock()
		s.used = append(s.used, sig.Format)
		s.mu.Unlock()
	}
	return sig, err
}

func (s *recordingSigner) Used() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.used...)
}

var rsaHostKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func newRSAHostSigner(t *testing.T, algos ...string) *recordingSigner {
	t.Helper()
	key, err := rsaHostKey()
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &recordingSigner{AlgorithmSigner: s.(gossh.AlgorithmSigner), algos: algos}
}

// A pinned RSA host key: the default mode negotiates rsa-sha2-512 and so reaches an OpenSSH >= 8.8 host (which offers
// no ssh-rsa); upstream offers only ssh-rsa, which an old server accepts and a current one refuses.
func TestRSAHostKeyNegotiation(t *testing.T) {
	bothModes(t, func(t *testing.T, up bool) {
		h := newHarness(t)
		run := func(signer *recordingSigner, name string) (*testServer, error) {
			ts := startServer(t, withHostKey(signer))
			_, err := h.create(commandType, name, props(map[string]property.Value{
				"connection": connection(ts, map[string]property.Value{
					"hostKey": str(hostKeyLine(signer.PublicKey())), "dialErrorLimit": num(1),
				}),
				"create": str("true"),
			}))
			return ts, err
		}

		// A server that offers all three RSA algorithms shows which one the client prefers.
		all := newRSAHostSigner(t, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256, gossh.KeyAlgoRSA)
		if _, err := run(all, "all"); err != nil {
			t.Fatalf("server with every RSA algorithm: %v", err)
		}
		want := gossh.KeyAlgoRSASHA512
		if up {
			want = gossh.KeyAlgoRSA
		}
		if used := all.Used(); len(used) == 0 || used[0] != want {
			t.Errorf("host key signed with %q, want %s", used, want)
		}

		// Current OpenSSH: no ssh-rsa.
		modern := newRSAHostSigner(t, gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256)
		ts, err := run(modern, "modern")
		if up {
			if err == nil || !strings.Contains(err.Error(), "no common algorithm for host key") {
				t.Errorf("upstream mode reached a server without ssh-rsa: %v", err)
			}
			if n := ts.tcpConns.Load(); n != 2 {
				t.Errorf("upstream made %d attempts, want 2 (dialErrorLimit 1)", n)
			}
		} else if err != nil {
			t.Errorf("server without ssh-rsa: %v", err)
		}

		// An old server with ssh-rsa only.
		old := newRSAHostSigner(t, gossh.KeyAlgoRSA)
		if _, err := run(old, "old"); err != nil {
			t.Errorf("server with ssh-rsa only: %v", err)
		}
	})
}

// Ctrl-C during a command: the default mode kills it and returns, upstream lets it run to its end and keeps its result.
func TestCancelRunningCommand(t *testing.T) {
	bothModes(t, func(t *testing.T, up bool) {
		ts := startServer(t)
		h := newHarness(t)
		type result struct {
			r   *resourceState
			err error
		}
		done := make(chan result, 1)
		start := time.Now()
		go func() {
			r, err := h.create(commandType, "long", props(map[string]property.Value{
				"connection": connection(ts, nil),
				"create":     str("sleep 1.5; echo finished > finished.txt; echo done"),
			}))
			done <- result{r, err}
		}()
		eventually(t, "the command to start", func() bool { return len(ts.Commands()) == 1 })
		if err := h.s.Cancel(); err != nil {
			t.Fatal(err)
		}
		var res result
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("create did not return after a cancel")
		}
		elapsed := time.Since(start)
		t.Logf("returned after %s: %v", elapsed, res.err)
		finished := func() bool { _, err := os.Stat(filepath.Join(ts.Home, "finished.txt")); return err == nil }
		if up {
			if res.err != nil {
				t.Fatalf("upstream mode: %v", res.err)
			}
			if outString(t, res.r.outputs, "stdout") != "done" || !finished() || ts.killed.Load() != 0 {
				t.Errorf("the command did not run to its end (killed %d)", ts.killed.Load())
			}
			return
		}
		if res.err == nil || !strings.Contains(res.err.Error(), "context canceled") {
			t.Errorf("cancelled create: %v", res.err)
		}
		if elapsed > time.Second {
			t.Errorf("the cancelled create took %s", elapsed)
		}
		eventually(t, "the server to see the KILL", func() bool { return ts.killed.Load() == 1 })
		time.Sleep(1500 * time.Millisecond)
		if finished() {
			t.Error("the cancelled command ran to its end")
		}
	})
}

// Upstream's error text: the exit status, the command and the combined output, no host.
func TestUpstreamErrorText(t *testing.T) {
	setUpstream(t, true)
	ts := startServer(t)
	h := newHarness(t)
	cmd := "echo visible-out; sleep 0.2; echo visible-err >&2; exit 3"
	_, err := h.create(commandType, "c", props(map[string]property.Value{
		"connection": connection(ts, nil),
		"create":     str(cmd),
	}))
	want := "Process exited with status 3: running \"" + strings.ReplaceAll(cmd, `"`, `\"`) + "\":\nvisible-out\nvisible-err\n"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

// A step with logging "none" fails: in upstream mode the error names the command as upstream does, but neither its
// output nor its (secret) stdin; nothing is logged.
func TestUpstreamLoggingNoneKeepsTheOutputOut(t *testing.T) {
	setUpstream(t, true)
	ts := startServer(t)
	h := newHarness(t)
	cmd := "cat | tee /dev/stderr; exit 4" // stdin to stdout and stderr
	_, err := h.create(commandType, "quiet-fail", props(map[string]property.Value{
		"connection": connection(ts, nil),
		"create":     str(cmd),
		"stdin":      str("hush-stdin-secret").WithSecret(true),
		"logging":    str("none"),
	}))
	if err == nil {
		t.Fatal("failing create succeeded")
	}
	t.Logf("upstream logging none failure: %v", err)
	if !strings.HasPrefix(err.Error(), "Process exited with status 4: running \""+cmd+"\":\n") {
		t.Errorf("not upstream's error text: %v", err)
	}
	if strings.Contains(err.Error(), "hush") {
		t.Errorf("error leaks the output or stdin: %v", err)
	}
	if logs := h.logs.Text(); strings.Contains(logs, "hush") {
		t.Errorf("logging none logged output:\n%s", logs)
	}
	// The control: with any other logging the output, here the stdin, is in the error as upstream has it.
	_, err = h.create(commandType, "loud-fail", props(map[string]property.Value{
		"connection": connection(ts, nil),
		"create":     str(cmd),
		"stdin":      str("hush-stdin-secret").WithSecret(true),
		"logging":    str("stderr"),
	}))
	if err == nil || !strings.Contains(err.Error(), "\":\nhush-stdin-secret") {
		t.Errorf("logging stderr: the error lacks the output: %v", err)
	}
}
