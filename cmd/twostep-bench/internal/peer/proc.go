package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Proc is a server process a run started, with its output in a log file.
type Proc struct {
	// Name says which server it is, in errors.
	Name string
	// Log is the file its standard output and error go to.
	Log string
	// Grace is how long Stop waits after SIGTERM before SIGKILL; 0 is 5 s.
	Grace time.Duration
	cmd   *exec.Cmd
	done  chan struct{} // closed when the process has exited
}

// Start starts bin with args, its output appended to logPath, in a
// process group of its own (a ^C at the terminal reaches the run, which
// stops its servers in order) that dies with the run (Linux).
func Start(name, logPath, bin string, args ...string) (*Proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Pause stops the process (SIGSTOP): its timers and cleanup take no CPU
// from the target under load.
func (p *Proc) Pause() error { return p.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (p *Proc) Resume() error { return p.cmd.Process.Signal(syscall.SIGCONT) }

// Stop ends the process: SIGTERM (and SIGCONT, since a paused process
// must run to act on it), then SIGKILL after Grace. Stopping twice is
// harmless.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	grace := p.Grace
	if grace == 0 {
		grace = 5 * time.Second
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// errNotReady is a server that did not get ready in time.
var errNotReady = errors.New("not ready")

// WaitReady polls ready every 100 ms until it holds, the process exits,
// limit passes or ctx ends.
func (p *Proc) WaitReady(ctx context.Context, limit time.Duration, ready func() bool) error {
	deadline := time.After(limit)
	for !ready() {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited at start", p.Name)
		case <-deadline:
			return fmt.Errorf("%s: %w after %v", p.Name, errNotReady, limit)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// LogHolds reports whether the process's log holds s (FreeRADIUS says
// it is ready there).
func (p *Proc) LogHolds(s string) bool {
	b, err := os.ReadFile(p.Log)
	return err == nil && bytes.Contains(b, []byte(s))
}
