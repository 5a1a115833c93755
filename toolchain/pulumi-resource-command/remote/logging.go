package remote

import (
	"bytes"
	"context"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Logging selects which of a command's output streams are shown in Pulumi's log while it runs.
type Logging string

const (
	LogStdout          Logging = "stdout"
	LogStderr          Logging = "stderr"
	LogStdoutAndStderr Logging = "stdoutAndStderr"
	NoLogging          Logging = "none"
)

func (Logging) Values() []infer.EnumValue[Logging] {
	return []infer.EnumValue[Logging]{
		{Name: string(LogStdout), Value: LogStdout, Description: "Capture stdout in logs but not stderr"},
		{Name: string(LogStderr), Value: LogStderr, Description: "Capture stderr in logs but not stdout"},
		{Name: string(LogStdoutAndStderr), Value: LogStdoutAndStderr, Description: "Capture stdout and stderr in logs"},
		{Name: string(NoLogging), Value: NoLogging, Description: "Capture no logs"},
	}
}

// logsStdout and logsStderr treat an unset value as the default, stdoutAndStderr.
func (l *Logging) logsStdout() bool {
	return l == nil || *l == LogStdout || *l == LogStdoutAndStderr
}

func (l *Logging) logsStderr() bool {
	return l == nil || *l == LogStderr || *l == LogStdoutAndStderr
}

// isNone reports whether no output may be shown anywhere but in the resource's outputs.
func (l *Logging) isNone() bool {
	return l != nil && *l == NoLogging
}

// lineLogger forwards complete lines written to it to a log function; Flush sends a trailing
// partial line. It is safe for concurrent use.
type lineLogger struct {
	mu      sync.Mutex
	partial bytes.Buffer
	log     func(string)
}

func newStatusLogger(ctx context.Context) *lineLogger {
	l := p.GetLogger(ctx)
	return &lineLogger{log: l.InfoStatus}
}

func (w *lineLogger) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial.Write(b)
	for {
		i := bytes.IndexByte(w.partial.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(bytes.TrimSuffix(w.partial.Next(i + 1)[:i], []byte("\r")))
		w.log(line)
	}
	return len(b), nil
}

func (w *lineLogger) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.partial.Len() > 0 {
		w.log(w.partial.String())
		w.partial.Reset()
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers (stdout and stderr are copied by
// separate goroutines).
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
