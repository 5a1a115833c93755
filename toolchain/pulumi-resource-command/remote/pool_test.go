package remote

import (
	"fmt"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

func runCommands(t *testing.T, ts *testServer, n int, cmd string) {
	t.Helper()
	h := newHarness(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := h.create(commandType, fmt.Sprintf("c%d", i), props(map[string]property.Value{
				"connection": connection(ts, nil),
				"create":     str(cmd),
			}))
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestCommandsShareOneConnection(t *testing.T) {
	ts := startServer(t)
	for i := 0; i < 3; i++ {
		runCommands(t, ts, 1, "true")
	}
	runCommands(t, ts, 5, "sleep 0.2")
	wantConnsAndCommands(t, ts, 1, 8)
}

// wantConnsAndCommands checks how many TCP connections the server accepted and how many commands it ran.
func wantConnsAndCommands(t *testing.T, ts *testServer, conns int32, commands int) {
	t.Helper()
	if n := ts.tcpConns.Load(); n != conns {
		t.Errorf("connections: %d, want %d", n, conns)
	}
	if got := len(ts.Commands()); got != commands {
		t.Errorf("the server ran %d commands, want %d", got, commands)
	}
}

func TestSessionsBeyondTheServersLimitOpenAnotherConnection(t *testing.T) {
	ts := startServer(t, withMaxSessions(2))
	runCommands(t, ts, 6, "sleep 0.3")
	if got := len(ts.Commands()); got != 6 {
		t.Errorf("the server ran %d commands, want 6", got)
	}
	if n := ts.tcpConns.Load(); n < 3 {
		t.Errorf("6 sessions at once with 2 a connection went over %d connections", n)
	}
}

func TestABrokenConnectionIsDialledAgain(t *testing.T) {
	ts := startServer(t)
	runCommands(t, ts, 1, "true")
	// The shared connection dies while idle (the host rebooted, a NAT forgot it).
	sharedConns.mu.Lock()
	for _, list := range sharedConns.conns {
		for _, sc := range list {
			if sc.client != nil && sc.client.RemoteAddr().String() == ts.Addr() {
				_ = sc.client.Close()
			}
		}
	}
	sharedConns.mu.Unlock()
	runCommands(t, ts, 1, "true")
	// The first connection, closed, and a new one.
	wantConnsAndCommands(t, ts, 2, 2)
}

func TestCopiesShareTheConnectionOfCommands(t *testing.T) {
	ts := startServer(t)
	runCommands(t, ts, 1, "true")
	h := newHarness(t)
	h.mustCreate(copyType, "copy", copyInputs(ts, textAsset(t, "hello"), ts.Home+"/hello.txt", nil))
	if got := readFile(t, ts.Home+"/hello.txt"); got != "hello" {
		t.Errorf("copied %q", got)
	}
	if n := ts.tcpConns.Load(); n != 1 {
		t.Errorf("a command and a copy opened %d connections, want 1", n)
	}
}
