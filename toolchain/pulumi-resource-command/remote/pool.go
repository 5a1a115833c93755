package remote

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// Connection sharing. Every SSH session of this plugin process (one `pulumi up`) to the same host with the same
// connection settings goes over one SSH connection while it has room: a cold deploy of a master runs about 17
// commands and copies, and each new connection costs the host an sshd process, a key exchange, the
// authentication and a PAM/logind session (about 0.1 s of its CPU on the lab) and the step a round of handshakes.
// Nothing else changes: each command still gets a session of its own (its environment, stdin, exit status).
const (
	// sessionsPerConn stays below OpenSSH's MaxSessions (10). A server that refuses a session sooner lowers the
	// limit of that connection, and the next session opens another connection.
	sessionsPerConn = 8
	// idleClose is how long a connection without sessions is kept for the next step.
	idleClose = 10 * time.Second
)

type sharedConn struct {
	key      string
	ready    chan struct{} // closed once dialled (err says how it went)
	err      error
	client   *ssh.Client
	closer   io.Closer
	sessions int // sessions in use, counted from the moment a caller takes a place
	limit    int
	dead     bool // out of the pool: broken, refused, or closed when idle
	idle     *time.Timer
}

type connPool struct {
	mu    sync.Mutex
	conns map[string][]*sharedConn
	dial  func(c *Connection, ctx context.Context) (*ssh.Client, io.Closer, error)
	// dials counts the connections opened (for tests).
	dials int
}

var sharedConns = newConnPool((*Connection).Dial)

func newConnPool(dial func(*Connection, context.Context) (*ssh.Client, io.Closer, error)) *connPool {
	return &connPool{conns: map[string][]*sharedConn{}, dial: dial}
}

// connKey identifies the settings of a connection (secrets included: the key is a hash and never shown).
func connKey(c *Connection) string {
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return string(sum[:])
}

// acquire takes a place on a connection to c with room for a session, dialling one when none has room.
func (p *connPool) acquire(ctx context.Context, c *Connection) (*sharedConn, error) {
	key := connKey(c)
	p.mu.Lock()
	var sc *sharedConn
	for _, x := range p.conns[key] {
		if !x.dead && x.sessions < x.limit {
			sc = x
			break
		}
	}
	if sc != nil {
		sc.sessions++
		if sc.idle != nil {
			sc.idle.Stop()
			sc.idle = nil
		}
		p.mu.Unlock()
	} else {
		sc = &sharedConn{key: key, ready: make(chan struct{}), sessions: 1, limit: sessionsPerConn}
		p.conns[key] = append(p.conns[key], sc)
		p.dials++
		p.mu.Unlock()
		// The dial is shared: it is not cut short when the caller that started it gives up.
		client, closer, err := p.dial(c, context.WithoutCancel(ctx))
		p.mu.Lock()
		sc.client, sc.closer, sc.err = client, closer, err
		if err != nil {
			p.drop(sc)
		}
		close(sc.ready)
		p.mu.Unlock()
	}
	select {
	case <-sc.ready:
	case <-ctx.Done():
		p.release(sc, false)
		return nil, ctx.Err()
	}
	if sc.err != nil {
		p.release(sc, false)
		return nil, sc.err
	}
	return sc, nil
}

// drop takes sc out of the pool (p.mu held).
func (p *connPool) drop(sc *sharedConn) {
	sc.dead = true
	list := p.conns[sc.key]
	for i, x := range list {
		if x == sc {
			p.conns[sc.key] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(p.conns[sc.key]) == 0 {
		delete(p.conns, sc.key)
	}
}

// release gives a place back; broken takes the connection out of the pool. A connection out of the pool is closed
// once its last session is done; one in the pool after idleClose without sessions.
func (p *connPool) release(sc *sharedConn, broken bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sc.sessions--
	if broken && !sc.dead {
		p.drop(sc)
	}
	if sc.sessions > 0 || sc.closer == nil {
		return
	}
	if sc.dead {
		_ = sc.closer.Close()
		return
	}
	sc.idle = time.AfterFunc(idleClose, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if sc.sessions == 0 && !sc.dead {
			p.drop(sc)
			_ = sc.closer.Close()
		}
	})
}

// withSession runs open (a new session, or an SFTP client, which opens one) on a shared connection to c. The
// returned done gives the place back once the caller has closed what open returned. A server that refuses the
// session (its MaxSessions) caps that connection and the session is opened on another; a connection that broke
// while idle is dropped and dialled again.
func withSession[T any](ctx context.Context, c *Connection, open func(*ssh.Client) (T, error)) (T, func(), error) {
	var zero T
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		sc, err := sharedConns.acquire(ctx, c)
		if err != nil {
			return zero, nil, err
		}
		v, err := open(sc.client)
		if err == nil {
			return v, func() { sharedConns.release(sc, false) }, nil
		}
		lastErr = err
		var refused *ssh.OpenChannelError
		if errors.As(err, &refused) {
			// The sessions it already has go on; it takes no more than it had when it refused.
			sharedConns.mu.Lock()
			sc.limit = max(1, min(sc.limit, sc.sessions-1))
			sharedConns.mu.Unlock()
			sharedConns.release(sc, false)
			continue
		}
		sharedConns.release(sc, true)
		if ctx.Err() != nil {
			break
		}
	}
	return zero, nil, fmt.Errorf("opening an SSH session on %s: %w", c.address(), lastErr)
}
