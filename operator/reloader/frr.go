package reloader

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/redact"
	"github.com/perouter/perouter/operator/vtysh"
)

// Applier makes FRR run exactly the given config text.
type Applier interface {
	Apply(ctx context.Context, config string) error
}

// HealthChecker reports whether FRR answers.
type HealthChecker interface {
	Check(ctx context.Context) error
}

// Fingerprinter is optionally implemented by an Applier. The fingerprint
// changes whenever the FRR daemons restart (and so lose their running config);
// the server skips a reload of an unchanged config only when the fingerprint
// is also unchanged.
type Fingerprinter interface {
	Fingerprint() (string, error)
}

// Stage says how far an apply got before it failed.
type Stage string

const (
	// StageValidate: FRR refused the config before anything was changed.
	StageValidate Stage = "validate"
	// StageApply: FRR failed while applying; the running config may be partly changed.
	StageApply Stage = "apply"
	// StageUnavailable: FRR could not be asked (daemons down); nothing changed.
	StageUnavailable Stage = "unavailable"
)

// ApplyError carries FRR's own error text. FRR echoes the lines it refuses,
// passwords included, so the text is redacted (redact.Secrets) when the
// error is made and again in Error(): it travels to the controller's
// status, events and logs.
type ApplyError struct {
	Stage Stage
	// FRRErrors are the lines in which FRR names the problem.
	FRRErrors string
	// Output is everything the tool printed, for logs.
	Output string
	Err    error
}

// newApplyError makes the ApplyError for a tool that printed out and
// failed with err.
func newApplyError(stage Stage, out string, err error) *ApplyError {
	return &ApplyError{Stage: stage, FRRErrors: redact.Secrets(frrErrors(out)), Output: redact.Secrets(out), Err: err}
}

func (e *ApplyError) Error() string {
	msg := e.FRRErrors
	if msg == "" {
		msg = e.Output
	}
	switch e.Stage {
	case StageValidate:
		msg = fmt.Sprintf("FRR rejected the config: %s", msg)
	case StageUnavailable:
		msg = fmt.Sprintf("FRR did not answer (%v): %s", e.Err, msg)
	default:
		msg = fmt.Sprintf("FRR failed to apply the config (%v): %s", e.Err, msg)
	}
	return redact.Secrets(msg)
}

func (e *ApplyError) Unwrap() error { return e.Err }

// FRRPaths locate the FRR tools and the daemons' vty sockets.
type FRRPaths struct {
	// ReloadScript is frr-reload.py. Default DefaultReloadScript.
	ReloadScript string
	// VtyshBinDir is the directory holding vtysh. Default DefaultVtyshBinDir.
	VtyshBinDir string
	// VtySocketDir is the daemons' --vty_socket directory; empty means FRR's
	// default (/var/run/frr, or /var/run/frr/<Pathspace>).
	VtySocketDir string
	// Pathspace is FRR's -N name, for instances started by frrinit.sh.
	Pathspace string
}

// Where FRR's packages install frr-reload.py and vtysh.
const (
	DefaultReloadScript = "/usr/lib/frr/frr-reload.py"
	DefaultVtyshBinDir  = "/usr/bin"
)

func (p FRRPaths) withDefaults() FRRPaths {
	if p.ReloadScript == "" {
		p.ReloadScript = DefaultReloadScript
	}
	if p.VtyshBinDir == "" {
		p.VtyshBinDir = DefaultVtyshBinDir
	}
	return p
}

// cli is the vtysh every FRR call of the reloader goes through. Its runs are
// bounded by the caller's context (ServerOptions.ApplyTimeout, the health
// check's timeout), not by a fixed vtysh timeout.
func (p FRRPaths) cli() vtysh.Cli {
	return vtysh.Cli{Binary: filepath.Join(p.VtyshBinDir, "vtysh"), SocketDir: p.VtySocketDir, Pathspace: p.Pathspace, Timeout: -1}
}

func (p FRRPaths) socketDir() string { return p.cli().Where() }

// FRRReload applies a config with frr-reload.py: --test first (FRR's parser
// checks the text against the running daemons, nothing changes), then
// --reload, which computes and applies the difference to the running config.
type FRRReload struct {
	Paths FRRPaths
	// WorkDir receives the candidate file and frr-reload.py's temporary files;
	// it is also frr-reload.py's --confdir, so it holds the vtysh.conf that
	// makes vtysh use the integrated config.
	WorkDir string
	// SkipTest leaves out the --test run. --reload parses the candidate
	// with "vtysh -m" and exits before changing anything when that fails,
	// so --test only repeats the parse (and a show running-config).
	SkipTest bool
}

// Apply implements Applier.
func (f *FRRReload) Apply(ctx context.Context, config string) error {
	if !f.SkipTest {
		if out, err := f.Run(ctx, "--test", config); err != nil {
			return newApplyError(reloadStage(out, StageUnavailable), out, err)
		}
	}
	if out, err := f.Run(ctx, "--reload", config); err != nil {
		return newApplyError(reloadStage(out, StageApply), out, err)
	}
	return nil
}

// LoadIfEmpty implements EmptyLoader: Apply, when FRR runs no
// configuration at all.
func (f *FRRReload) LoadIfEmpty(ctx context.Context, config string) (bool, error) {
	running, err := f.Paths.withDefaults().cli().Run(ctx, "-c", "show running-config")
	if err != nil {
		return false, &ApplyError{Stage: StageUnavailable, Output: running, Err: err}
	}
	if !runsNothing(running) {
		return false, nil
	}
	return true, f.Apply(ctx, config)
}

// reloadStage tells a candidate refused by frr-reload.py's parse (nothing
// changed) from other failures.
func reloadStage(out string, otherwise Stage) Stage {
	if strings.Contains(out, "failed to process new configuration") {
		return StageValidate
	}
	return otherwise
}

// Run runs frr-reload.py in mode ("--test" or "--reload") with config as
// the candidate and returns its combined output.
func (f *FRRReload) Run(ctx context.Context, mode, config string) (string, error) {
	paths := f.Paths.withDefaults()
	if err := os.MkdirAll(f.WorkDir, 0o700); err != nil {
		return "", fmt.Errorf("reloader: work dir: %w", err)
	}
	vtyshConf := filepath.Join(f.WorkDir, "vtysh.conf")
	if err := os.WriteFile(vtyshConf, []byte("service integrated-vtysh-config\n"), 0o600); err != nil {
		return "", fmt.Errorf("reloader: %w", err)
	}
	// Named frr.conf inside --confdir: frr-reload.py then skips its final
	// "write" (the candidate already is the file it would write).
	candidate := filepath.Join(f.WorkDir, "frr.conf")
	if err := os.WriteFile(candidate, []byte(config), 0o600); err != nil {
		return "", fmt.Errorf("reloader: candidate: %w", err)
	}
	args := []string{
		mode,
		"--stdout", // else --reload logs to /var/log/frr/frr-reload.log
		"--bindir", paths.VtyshBinDir,
		"--confdir", f.WorkDir,
		"--rundir", f.WorkDir,
	}
	if paths.VtySocketDir != "" {
		args = append(args, "--vty_socket", paths.VtySocketDir)
	}
	if paths.Pathspace != "" {
		args = append(args, "--pathspace", paths.Pathspace)
	}
	args = append(args, candidate)
	cmd := exec.CommandContext(ctx, paths.ReloadScript, args...)
	// frr-reload.py runs several vtysh children; kill them with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Fingerprint implements Fingerprinter: a restarted daemon recreates its vty
// socket, so the sockets' inodes and change times identify one daemon run.
func (f *FRRReload) Fingerprint() (string, error) {
	return socketFingerprint(f.Paths.withDefaults().socketDir())
}

func socketFingerprint(dir string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.vty"))
	if err != nil {
		return "", err
	}
	if len(matches) == 0 {
		return "", fmt.Errorf("reloader: no vty sockets in %s", dir)
	}
	slices.Sort(matches)
	var b strings.Builder
	for _, m := range matches {
		var st syscall.Stat_t
		if err := syscall.Stat(m, &st); err != nil {
			return "", fmt.Errorf("reloader: %s: %w", m, err)
		}
		fmt.Fprintf(&b, "%s:%d:%d.%d;", filepath.Base(m), st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
	}
	return b.String(), nil
}

var (
	ansiEscape = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	// frr-reload.py's own log lines: "2026-11-26 10:36:42,491  INFO: ...".
	logLine = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d+\s+(\w+):\s?(.*)$`)
	// vtysh's "line 2: % Unknown command: ..." and daemon messages "% ...".
	frrLine = regexp.MustCompile(`^(line \d+: .*|%.*)$`)
)

// frrErrors picks FRR's complaints out of frr-reload.py output, which mixes
// its own log lines, the diff it computed and, in Python byte-string reprs,
// vtysh's stderr.
func frrErrors(out string) string {
	out = ansiEscape.ReplaceAllString(out, "")
	out = strings.ReplaceAll(out, `\n`, "\n")
	var found, logged []string
	seen := map[string]bool{}
	add := func(l string) {
		l = strings.TrimSpace(strings.Trim(strings.TrimSpace(l), `b"'`))
		if l == "" || seen[l] || strings.Contains(l, "Can't open configuration file") {
			return
		}
		seen[l] = true
		found = append(found, l)
	}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if m := logLine.FindStringSubmatch(l); m != nil {
			if m[1] == "ERROR" || m[1] == "WARNING" {
				logged = append(logged, m[2])
			}
			continue
		}
		l = strings.TrimPrefix(strings.TrimPrefix(l, `b"`), `b'`)
		if frrLine.MatchString(l) {
			add(l)
		}
	}
	if len(found) == 0 {
		for _, l := range logged {
			add(l)
		}
	}
	if len(found) == 0 {
		// A Python traceback ends with the exception, e.g. "VtyshException:
		// vtysh (show running-config) exited with status 1:" and vtysh's words.
		lines := strings.Split(strings.TrimSpace(out), "\n")
		for i := len(lines) - 1; i >= 0; i-- {
			if strings.Contains(lines[i], "Exception") || strings.Contains(lines[i], "Error:") {
				for _, l := range lines[i:] {
					add(l)
				}
				break
			}
		}
	}
	return strings.Join(found, "\n")
}

// DefaultDaemons returns the FRR daemons the router runs and DaemonCheck
// waits for by default; frrproc owns the list (it starts them).
func DefaultDaemons() []string { return slices.Clone(frrproc.DefaultDaemons) }

// DaemonCheck is healthy when vtysh reaches every listed daemon.
type DaemonCheck struct {
	Paths FRRPaths
	// Daemons that must answer. Default DefaultDaemons().
	Daemons []string
}

// Check implements HealthChecker.
func (d *DaemonCheck) Check(ctx context.Context) error {
	paths := d.Paths.withDefaults()
	want := d.Daemons
	if len(want) == 0 {
		want = DefaultDaemons()
	}
	// vtysh connects to every daemon whose socket accepts and lists those;
	// a dead daemon's stale socket refuses the connection.
	out, err := paths.cli().Commands(ctx, "show daemons")
	if err != nil {
		return fmt.Errorf("%w (vty sockets in %s): %s", err, paths.socketDir(), strings.TrimSpace(out))
	}
	up := strings.Fields(string(out))
	var missing []string
	for _, w := range want {
		if !slices.Contains(up, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("FRR daemons not answering (vty sockets in %s): %s", paths.socketDir(), strings.Join(missing, ", "))
	}
	return nil
}
