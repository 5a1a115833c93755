package remote

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/crypto/ssh"
)

// UpstreamEnv names the environment variable that selects upstream mode. The plugin reads it once, when the process
// starts (the Pulumi CLI passes its own environment to the plugins it starts): `K8SCP_COMMAND_UPSTREAM=1 pulumi up`.
// Any other value, or none, selects the default mode.
//
// Upstream mode reproduces the SSH connection behaviour of the official plugin, pulumi-command v1.2.1, for
// comparisons (measuring what the default mode saves, reproducing a report against the official plugin):
//   - a new SSH connection for every create, update, delete and copy; a Command's connection is left open until the
//     plugin exits (upstream never closes it), a copy's is closed when the copy is done;
//   - perDialTimeout bounds only the TCP connect; the SSH handshake has no time limit;
//   - a host key that does not match is retried like any other dial error, up to dialErrorLimit;
//   - for a pinned RSA host key only `ssh-rsa` (SHA-1 signatures) is offered as host key algorithm;
//   - a cancelled command (Ctrl-C) is left running on the host, and the operation waits for its end;
//   - a failed command's error is upstream's text: the exit status, the command and its combined output. One
//     exception: with `logging: "none"` the output is withheld (upstream prints it; see README).
//
// Everything else (inputs, outputs, diffs, retries and their delays) is the same in both modes.
const UpstreamEnv = "K8SCP_COMMAND_UPSTREAM"

// upstream is true in upstream mode. Tests switch it with setUpstream.
var upstream = upstreamFromEnv(os.Getenv(UpstreamEnv))

func upstreamFromEnv(v string) bool { return v == "1" }

// Upstream reports whether the plugin runs in upstream mode.
func Upstream() bool { return upstream }

// ownConnection opens what open returns on a connection dialled for this operation alone (upstream mode). done closes
// that connection, unless keep is set: upstream leaves a Command's connection open until the plugin exits.
func ownConnection[T any](ctx context.Context, c *Connection, keep bool, open func(*ssh.Client) (T, error)) (T, func(), error) {
	var zero T
	client, closer, err := c.Dial(ctx)
	if err != nil {
		return zero, nil, err
	}
	v, err := open(client)
	if err != nil {
		_ = closer.Close()
		return zero, nil, fmt.Errorf("opening an SSH session on %s: %w", c.address(), err)
	}
	if keep {
		leftOpen.add(closer)
		return v, func() {}, nil
	}
	return v, func() { _ = closer.Close() }, nil
}

// openSession opens a session (or what open makes of one) for one operation: on a shared connection in the default
// mode, on a connection of its own in upstream mode (kept open after the operation when keep is set).
func openSession[T any](ctx context.Context, c *Connection, keep bool, open func(*ssh.Client) (T, error)) (T, func(), error) {
	if upstream {
		return ownConnection(ctx, c, keep, open)
	}
	return withSession(ctx, c, open)
}

// leftOpen holds the connections upstream mode leaves open (as upstream, which drops its reference to them; holding
// them changes nothing for the host and lets tests close them).
var leftOpen openConns

type openConns struct {
	mu    sync.Mutex
	conns []io.Closer
}

func (o *openConns) add(c io.Closer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.conns = append(o.conns, c)
}

// closeAll closes the connections left open so far (for tests).
func (o *openConns) closeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range o.conns {
		_ = c.Close()
	}
	o.conns = nil
}
