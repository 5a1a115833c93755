package remote

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"golang.org/x/crypto/ssh"
)

// Environment variables that carry the previous run's outputs into update and delete.
const (
	envPreviousStdout = "PULUMI_COMMAND_STDOUT"
	envPreviousStderr = "PULUMI_COMMAND_STDERR"
)

// runSpec is everything one remote run needs.
type runSpec struct {
	Connection  *Connection
	Command     string
	Stdin       string
	Environment map[string]string
	// Previous outputs, injected as PULUMI_COMMAND_STDOUT/STDERR when non-empty.
	PrevStdout, PrevStderr string
	Logging                *Logging
}

func setenvHint(name string) string {
	return fmt.Sprintf("unable to set environment variable %q on the remote host: the SSH server must accept it "+
		"(sshd_config AcceptEnv); alternatively prefix the command with 'VAR=value'", name)
}

// runRemote runs spec.Command with the remote user's shell and returns its stdout and stderr,
// each without one trailing newline.
func runRemote(ctx context.Context, spec runSpec) (string, string, error) {
	// In upstream mode a connection of its own, left open (keep) as upstream leaves it.
	session, done, err := openSession(ctx, spec.Connection, true, (*ssh.Client).NewSession)
	if err != nil {
		return "", "", err
	}
	defer done()
	defer session.Close()

	names := make([]string, 0, len(spec.Environment))
	for k := range spec.Environment {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if err := session.Setenv(k, spec.Environment[k]); err != nil {
			return "", "", fmt.Errorf("%s: %w", setenvHint(k), err)
		}
	}
	for _, kv := range [][2]string{{envPreviousStdout, spec.PrevStdout}, {envPreviousStderr, spec.PrevStderr}} {
		if kv[1] == "" {
			continue
		}
		if err := session.Setenv(kv[0], kv[1]); err != nil {
			// Optional, as upstream: warn and go on.
			p.GetLogger(ctx).Warning(setenvHint(kv[0]))
		}
	}

	if spec.Stdin != "" {
		session.Stdin = strings.NewReader(spec.Stdin)
	}

	var stdout, stderr bytes.Buffer
	combined := &lockedBuffer{}
	outWriters := []io.Writer{&stdout, combined}
	errWriters := []io.Writer{&stderr, combined}
	var loggers []*lineLogger
	if spec.Logging.logsStdout() {
		l := newStatusLogger(ctx)
		loggers = append(loggers, l)
		outWriters = append(outWriters, l)
	}
	if spec.Logging.logsStderr() {
		l := newStatusLogger(ctx)
		loggers = append(loggers, l)
		errWriters = append(errWriters, l)
	}
	session.Stdout = io.MultiWriter(outWriters...)
	session.Stderr = io.MultiWriter(errWriters...)

	if err := session.Start(spec.Command); err != nil {
		return "", "", fmt.Errorf("starting the command on %s: %w", spec.Connection.address(), err)
	}
	waited := make(chan error, 1)
	go func() { waited <- session.Wait() }()
	var cancelled <-chan struct{}
	if !upstream {
		// Upstream mode ignores a cancellation: the command runs to its end and its result counts.
		cancelled = ctx.Done()
	}
	select {
	case err = <-waited:
	case <-cancelled:
		_ = session.Signal("KILL")
		_ = session.Close()
		<-waited
		err = ctx.Err()
	}
	for _, l := range loggers {
		l.Flush()
	}

	if err != nil && upstream {
		return "", "", upstreamRunError(err, spec, combined.String())
	}
	if err != nil {
		if spec.Logging.isNone() {
			// Neither the output nor the command text may leak into logs or errors.
			return "", "", fmt.Errorf("%w: running the command on %s (output withheld because logging is \"none\")",
				err, spec.Connection.address())
		}
		return "", "", fmt.Errorf("%w: running %q on %s:\n%s", err, spec.Command, spec.Connection.address(), combined.String())
	}
	return strings.TrimSuffix(stdout.String(), "\n"), strings.TrimSuffix(stderr.String(), "\n"), nil
}

// upstreamRunError is a failed command's error as upstream words it: the exit status, the command, and the combined
// output. Upstream prints the output whatever `logging` says; here a step with logging "none" keeps it out (it may hold
// what its secret stdin carried), which is the one place where upstream mode does not do as upstream.
func upstreamRunError(err error, spec runSpec, output string) error {
	if spec.Logging.isNone() {
		output = "(output withheld because logging is \"none\")\n"
	}
	return fmt.Errorf("%w: running %q:\n%s", err, spec.Command, output)
}
