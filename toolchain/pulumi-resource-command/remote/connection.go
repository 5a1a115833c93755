package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Defaults, as documented by @pulumi/command 1.2.1 (its SDK applies the same ones client-side).
const (
	defaultUser           = "root"
	defaultPort           = 22
	defaultDialErrorLimit = 10
	defaultPerDialTimeout = 15 // seconds
)

// endpoint holds the settings shared by a connection and its optional bastion.
//
// Field names, types and tags define the wire format, which must match the
// `command:remote:Connection` type of @pulumi/command 1.2.1.
type endpoint struct {
	User               *string  `pulumi:"user,optional"`
	Password           *string  `pulumi:"password,optional"           provider:"secret"`
	Host               *string  `pulumi:"host"`
	Port               *float64 `pulumi:"port,optional"`
	PrivateKey         *string  `pulumi:"privateKey,optional"         provider:"secret"`
	PrivateKeyPassword *string  `pulumi:"privateKeyPassword,optional" provider:"secret"`
	AgentSocketPath    *string  `pulumi:"agentSocketPath,optional"`
	DialErrorLimit     *int     `pulumi:"dialErrorLimit,optional"`
	PerDialTimeout     *int     `pulumi:"perDialTimeout,optional"`
	HostKey            *string  `pulumi:"hostKey,optional"`
}

// Connection describes how to reach a host over SSH.
type Connection struct {
	endpoint
	Proxy *ProxyConnection `pulumi:"proxy,optional"`
}

// ProxyConnection describes a bastion host through which the target is reached.
type ProxyConnection struct {
	endpoint
}

func (c *Connection) Annotate(a infer.Annotator) {
	a.Describe(&c, "Instructions for how to connect to a remote endpoint.")
	annotateEndpoint(a, &c.endpoint, "")
	a.Describe(&c.Proxy, "The connection settings for the bastion/proxy host.")
}

func (c *ProxyConnection) Annotate(a infer.Annotator) {
	a.Describe(&c, "Instructions for how to connect to a remote endpoint via a bastion host.")
	annotateEndpoint(a, &c.endpoint, " of the bastion host")
}

func annotateEndpoint(a infer.Annotator, e *endpoint, of string) {
	a.Describe(&e.User, "The user to log in as"+of+".")
	a.SetDefault(&e.User, defaultUser)
	a.Describe(&e.Password, "The password to log in with"+of+".")
	a.Describe(&e.Host, "The address"+of+" to connect to.")
	a.Describe(&e.Port, "The SSH port"+of+". Defaults to 22.")
	a.SetDefault(&e.Port, defaultPort)
	a.Describe(&e.PrivateKey, "The contents of an SSH private key to log in with. Tried before the password.")
	a.Describe(&e.PrivateKeyPassword, "The passphrase of an encrypted private key.")
	a.Describe(&e.AgentSocketPath, "SSH agent socket path. Defaults to the environment variable SSH_AUTH_SOCK if set.")
	a.Describe(&e.DialErrorLimit,
		"How many failed dial attempts are tolerated before giving up. -1 means no limit. Defaults to 10.")
	a.SetDefault(&e.DialErrorLimit, defaultDialErrorLimit)
	a.Describe(&e.PerDialTimeout,
		"Maximum number of seconds for each dial attempt (TCP connect and SSH handshake). 0 means no maximum. Defaults to 15.")
	a.SetDefault(&e.PerDialTimeout, defaultPerDialTimeout)
	a.Describe(&e.HostKey,
		"The expected host public key (\"ssh-ed25519 AAAA...\"). If not set, any host key is accepted.")
}

func (e *endpoint) user() string {
	if e.User == nil || *e.User == "" {
		return defaultUser
	}
	return *e.User
}

func (e *endpoint) address() string {
	host := ""
	if e.Host != nil {
		host = *e.Host
	}
	port := defaultPort
	if e.Port != nil {
		port = int(*e.Port)
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func (e *endpoint) dialErrorLimit() int {
	if e.DialErrorLimit == nil {
		return defaultDialErrorLimit
	}
	return *e.DialErrorLimit
}

func (e *endpoint) perDialTimeout() time.Duration {
	if e.PerDialTimeout == nil {
		return defaultPerDialTimeout * time.Second
	}
	if *e.PerDialTimeout <= 0 {
		return 0
	}
	return time.Duration(*e.PerDialTimeout) * time.Second
}

// HostKeyMismatchError reports that a server presented a host key other than the pinned one.
type HostKeyMismatchError struct {
	Address  string
	Got      ssh.PublicKey
	Expected ssh.PublicKey
}

func (e *HostKeyMismatchError) Error() string {
	return fmt.Sprintf("host key verification failed for %s: the host key does not match: "+
		"the server presented %s %s, but connection.hostKey is %s %s",
		e.Address, e.Got.Type(), ssh.FingerprintSHA256(e.Got), e.Expected.Type(), ssh.FingerprintSHA256(e.Expected))
}

// parseHostKey accepts a public key in authorized_keys form ("ssh-ed25519 AAAA... [comment]")
// or a known_hosts line ("host ssh-ed25519 AAAA...").
func parseHostKey(s string) (ssh.PublicKey, error) {
	s = strings.TrimSpace(s)
	if k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(s)); err == nil {
		return k, nil
	}
	if _, _, k, _, _, err := ssh.ParseKnownHosts([]byte(s)); err == nil && k != nil {
		return k, nil
	}
	return nil, errors.New(`connection.hostKey is not an SSH public key (expected the form "ssh-ed25519 AAAA...")`)
}

// hostKeyAlgorithms lists the signature algorithms to negotiate so that a server with several
// host keys presents the pinned one.
// Upstream mode offers only the key's type, which for RSA is `ssh-rsa` (SHA-1 signatures, refused by OpenSSH >= 8.8).
func hostKeyAlgorithms(k ssh.PublicKey) []string {
	if k.Type() == ssh.KeyAlgoRSA && !upstream {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{k.Type()}
}

// clientConfig builds the SSH client configuration for one endpoint. The returned cleanup
// closes resources (an agent connection) that live as long as the dial attempts.
func (e *endpoint) clientConfig(addr string, mismatch *error) (*ssh.ClientConfig, func(), error) {
	cleanup := func() {}
	cfg := &ssh.ClientConfig{User: e.user()}

	if e.HostKey != nil && strings.TrimSpace(*e.HostKey) != "" {
		want, err := parseHostKey(*e.HostKey)
		if err != nil {
			return nil, cleanup, err
		}
		cfg.HostKeyAlgorithms = hostKeyAlgorithms(want)
		cfg.HostKeyCallback = func(_ string, _ net.Addr, got ssh.PublicKey) error {
			if bytes.Equal(got.Marshal(), want.Marshal()) {
				return nil
			}
			err := &HostKeyMismatchError{Address: addr, Got: got, Expected: want}
			*mismatch = err
			return err
		}
	} else {
		// Like upstream: without a pinned key, any host key is accepted.
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // documented behaviour
	}

	if e.PrivateKey != nil && *e.PrivateKey != "" {
		var signer ssh.Signer
		var err error
		if e.PrivateKeyPassword != nil && *e.PrivateKeyPassword != "" {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*e.PrivateKey), []byte(*e.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*e.PrivateKey))
		}
		if err != nil {
			var missing *ssh.PassphraseMissingError
			if errors.As(err, &missing) {
				return nil, cleanup, errors.New("connection.privateKey is encrypted but no privateKeyPassword is set")
			}
			return nil, cleanup, fmt.Errorf("connection.privateKey cannot be parsed: %w", err)
		}
		cfg.Auth = append(cfg.Auth, ssh.PublicKeys(signer))
	}
	if e.Password != nil && *e.Password != "" {
		password := *e.Password
		cfg.Auth = append(cfg.Auth,
			ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
	}

	socket, explicit := "", false
	if e.AgentSocketPath != nil && *e.AgentSocketPath != "" {
		socket, explicit = *e.AgentSocketPath, true
	} else if env := os.Getenv("SSH_AUTH_SOCK"); env != "" {
		socket = env
	}
	if socket != "" {
		conn, err := net.Dial("unix", socket)
		switch {
		case err == nil:
			cleanup = func() { _ = conn.Close() }
			cfg.Auth = append(cfg.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
		case explicit:
			return nil, cleanup, fmt.Errorf("connecting to the SSH agent at connection.agentSocketPath: %w", err)
		default:
			// An unusable SSH_AUTH_SOCK inherited from the environment is not fatal.
		}
	}
	return cfg, cleanup, nil
}

// handshake runs the SSH handshake over conn, bounded by timeout (0 = none) and by ctx.
func handshake(ctx context.Context, conn net.Conn, addr string, cfg *ssh.ClientConfig, timeout time.Duration) (*ssh.Client, error) {
	done := make(chan struct{})
	timedOut := make(chan struct{})
	go func() {
		var expire <-chan time.Time
		if timeout > 0 {
			t := time.NewTimer(timeout)
			defer t.Stop()
			expire = t.C
		}
		select {
		case <-done:
		case <-expire:
			close(timedOut)
			_ = conn.Close()
		case <-ctx.Done():
			_ = conn.Close()
		}
	}()
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	close(done)
	if err != nil {
		_ = conn.Close()
		select {
		case <-timedOut:
			return nil, fmt.Errorf("ssh handshake with %s timed out after %s", addr, timeout)
		default:
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// withRetries calls attempt until it succeeds, fails permanently, or has failed more than limit
// times (limit < 0: no limit). Delays between attempts grow from 100ms by 1.5x up to 5s.
func withRetries[T any](ctx context.Context, what string, limit int, attempt func() (T, error), permanent func(error) bool) (T, error) {
	var zero T
	delay := 100 * time.Millisecond
	for n := 1; ; n++ {
		v, err := attempt()
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		if permanent(err) {
			return zero, fmt.Errorf("%s: %w", what, err)
		}
		if limit >= 0 && n > limit {
			return zero, fmt.Errorf("%s: giving up after %d failed attempts: %w", what, n, err)
		}
		max := "unlimited"
		if limit >= 0 {
			max = strconv.Itoa(limit + 1)
		}
		p.GetLogger(ctx).InfoStatusf("%s: attempt %d/%s failed (%v); retrying", what, n, max, err)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return zero, fmt.Errorf("%s: %w", what, ctx.Err())
		}
		delay = min(time.Duration(float64(delay)*1.5), 5*time.Second)
	}
}

// dialEndpoint dials e directly (via == nil) or through an established client (a bastion).
func dialEndpoint(ctx context.Context, e *endpoint, via *ssh.Client) (*ssh.Client, error) {
	addr := e.address()
	var mismatch error
	cfg, cleanup, err := e.clientConfig(addr, &mismatch)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	timeout := e.perDialTimeout()
	what := fmt.Sprintf("connecting to %s as %s", addr, e.user())
	if via != nil {
		what += " through the proxy"
	}
	if upstream {
		// Every failure is retried, a host key mismatch included, and only the TCP connect is bounded.
		return withRetries(ctx, what, e.dialErrorLimit(), func() (*ssh.Client, error) {
			return dialUnboundedHandshake(addr, cfg, timeout, via)
		}, func(error) bool { return false })
	}
	return withRetries(ctx, what, e.dialErrorLimit(), func() (*ssh.Client, error) {
		var conn net.Conn
		var err error
		if via == nil {
			d := net.Dialer{Timeout: timeout}
			conn, err = d.DialContext(ctx, "tcp", addr)
		} else {
			conn, err = via.DialContext(ctx, "tcp", addr)
		}
		if err != nil {
			return nil, err
		}
		client, err := handshake(ctx, conn, addr, cfg, timeout)
		if err != nil && cfg.HostKeyAlgorithms != nil && strings.Contains(err.Error(), "no common algorithm for host key") {
			// The server has no key of the pinned type at all: as final as a mismatch.
			mismatch = fmt.Errorf("host key verification failed for %s: the host key does not match: "+
				"the server offers no host key of type %s: %w", addr, cfg.HostKeyAlgorithms[0], err)
			return nil, mismatch
		}
		return client, err
	}, func(error) bool { return mismatch != nil })
}

// dialUnboundedHandshake is one dial attempt of upstream mode: the TCP connect is bounded by timeout (0 = none; through
// a bastion it is not bounded at all), the SSH handshake by nothing, not even a cancellation.
func dialUnboundedHandshake(addr string, cfg *ssh.ClientConfig, timeout time.Duration, via *ssh.Client) (*ssh.Client, error) {
	var conn net.Conn
	var err error
	if via == nil {
		conn, err = net.DialTimeout("tcp", addr, timeout)
	} else {
		conn, err = via.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// Dial connects to the host described by c, through its proxy if one is set, retrying as
// configured. The caller closes the returned closer when done with the client.
func (c *Connection) Dial(ctx context.Context) (*ssh.Client, io.Closer, error) {
	if c == nil || c.Host == nil || *c.Host == "" {
		return nil, nil, errors.New("connection.host is required")
	}
	if c.Proxy == nil {
		client, err := dialEndpoint(ctx, &c.endpoint, nil)
		if err != nil {
			return nil, nil, err
		}
		return client, client, nil
	}
	if c.Proxy.Host == nil || *c.Proxy.Host == "" {
		return nil, nil, errors.New("connection.proxy.host is required")
	}
	bastion, err := dialEndpoint(ctx, &c.Proxy.endpoint, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("proxy: %w", err)
	}
	client, err := dialEndpoint(ctx, &c.endpoint, bastion)
	if err != nil {
		_ = bastion.Close()
		return nil, nil, err
	}
	return client, closers{client, bastion}, nil
}

type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
