package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	gliderssh "github.com/gliderlabs/ssh"
	"github.com/pkg/sftp"
	gossh "golang.org/x/crypto/ssh"
)

const testPassword = "correct horse"

// testServer is an in-process SSH server on 127.0.0.1 that really runs commands with
// /bin/sh -c and serves SFTP on the local file system.
type testServer struct {
	Host       string
	Port       int
	HostKey    gossh.PublicKey // authorized_keys form via hostKeyLine
	ClientKey  string          // PEM private key the server accepts
	Home       string          // working directory of commands
	srv        *gliderssh.Server
	mu         sync.Mutex
	commands   []string
	envs       [][]string
	sessions   atomic.Int32
	tcpConns   atomic.Int32
	liveConns  atomic.Int32 // TCP connections not yet closed
	killed     atomic.Int32 // commands ended by a KILL signal from the client
	refuseEnv  bool
	forwarding bool
	// maxSessions > 0 refuses a session channel beyond that many open on one connection (OpenSSH's MaxSessions).
	maxSessions int
	open        map[*gossh.ServerConn]int
	hostSigner  gossh.Signer // instead of a new ed25519 key
}

type serverOption func(*testServer)

// refusingEnv makes the server refuse every "env" request, like sshd without AcceptEnv.
func refusingEnv() serverOption { return func(s *testServer) { s.refuseEnv = true } }

// withMaxSessions refuses more than n sessions at once on one connection, as sshd's MaxSessions does.
func withMaxSessions(n int) serverOption { return func(s *testServer) { s.maxSessions = n } }

// withForwarding lets the server act as a bastion (direct-tcpip).
func withForwarding() serverOption { return func(s *testServer) { s.forwarding = true } }

// withHostKey makes the server present signer's key.
func withHostKey(signer gossh.Signer) serverOption { return func(s *testServer) { s.hostSigner = signer } }

func newKeyPair(t *testing.T) (gossh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := gossh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return signer, string(pem.EncodeToMemory(block))
}

func hostKeyLine(k gossh.PublicKey) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k)))
}

func startServer(t *testing.T, opts ...serverOption) *testServer {
	t.Helper()
	ts := &testServer{Home: t.TempDir()}
	for _, o := range opts {
		o(ts)
	}
	hostSigner := ts.hostSigner
	if hostSigner == nil {
		hostSigner, _ = newKeyPair(t)
	}
	clientSigner, clientPEM := newKeyPair(t)
	ts.HostKey = hostSigner.PublicKey()
	ts.ClientKey = clientPEM

	ts.srv = &gliderssh.Server{
		Handler: ts.exec,
		PasswordHandler: func(_ gliderssh.Context, pw string) bool {
			return pw == testPassword
		},
		PublicKeyHandler: func(_ gliderssh.Context, key gliderssh.PublicKey) bool {
			return gliderssh.KeysEqual(key, clientSigner.PublicKey())
		},
		SubsystemHandlers: map[string]gliderssh.SubsystemHandler{
			"sftp": func(s gliderssh.Session) {
				server, err := sftp.NewServer(s)
				if err != nil {
					return
				}
				_ = server.Serve()
				_ = server.Close()
			},
		},
		ChannelHandlers: map[string]gliderssh.ChannelHandler{
			"session": gliderssh.DefaultSessionHandler,
		},
		ConnCallback: func(_ gliderssh.Context, c net.Conn) net.Conn {
			ts.tcpConns.Add(1)
			ts.liveConns.Add(1)
			return &countedConn{Conn: c, live: &ts.liveConns}
		},
	}
	if ts.refuseEnv {
		ts.srv.ChannelHandlers["session"] = ts.rawSessionRefusingEnv
	}
	if ts.maxSessions > 0 {
		ts.open = map[*gossh.ServerConn]int{}
		inner := ts.srv.ChannelHandlers["session"]
		ts.srv.ChannelHandlers["session"] = func(srv *gliderssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx gliderssh.Context) {
			ts.mu.Lock()
			if ts.open[conn] >= ts.maxSessions {
				ts.mu.Unlock()
				_ = ch.Reject(gossh.Prohibited, "open failed")
				return
			}
			ts.open[conn]++
			ts.mu.Unlock()
			defer func() {
				ts.mu.Lock()
				ts.open[conn]--
				ts.mu.Unlock()
			}()
			inner(srv, conn, ch, ctx)
		}
	}
	if ts.forwarding {
		ts.srv.ChannelHandlers["direct-tcpip"] = gliderssh.DirectTCPIPHandler
		ts.srv.LocalPortForwardingCallback = func(gliderssh.Context, string, uint32) bool { return true }
	}
	ts.srv.AddHostKey(hostSigner)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.Host = "127.0.0.1"
	ts.Port = l.Addr().(*net.TCPAddr).Port
	go func() { _ = ts.srv.Serve(l) }()
	t.Cleanup(func() { _ = ts.srv.Close() })
	return ts
}

func (ts *testServer) Addr() string { return net.JoinHostPort(ts.Host, strconv.Itoa(ts.Port)) }

func (ts *testServer) record(cmd string, env []string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.commands = append(ts.commands, cmd)
	ts.envs = append(ts.envs, env)
}

// Commands returns the commands the server has executed so far.
func (ts *testServer) Commands() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.commands...)
}

// countedConn counts down the server's live connections when it is closed (gliderlabs closes a connection once
// the client has gone).
type countedConn struct {
	net.Conn
	live *atomic.Int32
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.live.Add(-1) })
	return c.Conn.Close()
}

// runShell runs cmd with /bin/sh -c in its own process group; a KILL arriving on signals (as sshd delivers a
// client's "signal" request) kills the group.
func (ts *testServer) runShell(cmd string, env []string, stdin io.Reader, stdout, stderr io.Writer, signals <-chan gliderssh.Signal) int {
	ts.record(cmd, env)
	ts.sessions.Add(1)
	c := exec.Command("/bin/sh", "-c", cmd)
	c.Dir = ts.Home
	c.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + ts.Home}, env...)
	c.Stdin, c.Stdout, c.Stderr = stdin, stdout, stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		return 255
	}
	exited := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				if sig == gliderssh.SIGKILL {
					ts.killed.Add(1)
					_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				}
			case <-exited:
				return
			}
		}
	}()
	err := c.Wait()
	close(exited)
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exitErr):
		return exitErr.ExitCode()
	default:
		return 255
	}
}

func (ts *testServer) exec(s gliderssh.Session) {
	signals := make(chan gliderssh.Signal, 4)
	s.Signals(signals)
	code := ts.runShell(s.RawCommand(), s.Environ(), s, s, s.Stderr(), signals)
	_ = s.Exit(code)
}

// rawSessionRefusingEnv is a minimal session channel handler: it refuses "env" requests,
// as OpenSSH does for variables not listed in AcceptEnv, and runs "exec" requests.
func (ts *testServer) rawSessionRefusingEnv(_ *gliderssh.Server, _ *gossh.ServerConn, newChan gossh.NewChannel, _ gliderssh.Context) {
	ch, reqs, err := newChan.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	for req := range reqs {
		switch req.Type {
		case "env":
			_ = req.Reply(false, nil)
		case "exec":
			if len(req.Payload) < 4 {
				_ = req.Reply(false, nil)
				continue
			}
			n := binary.BigEndian.Uint32(req.Payload)
			cmd := string(req.Payload[4 : 4+n])
			_ = req.Reply(true, nil)
			code := ts.runShell(cmd, nil, ch, ch, ch.Stderr(), nil)
			status := make([]byte, 4)
			binary.BigEndian.PutUint32(status, uint32(code))
			_, _ = ch.SendRequest("exit-status", false, status)
			return
		default:
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
}

// blackHole accepts TCP connections and never speaks SSH; it counts the connections.
func blackHole(t *testing.T) (string, int, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "127.0.0.1", l.Addr().(*net.TCPAddr).Port, &n
}

// closedPort returns a port on 127.0.0.1 with nothing listening.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}
