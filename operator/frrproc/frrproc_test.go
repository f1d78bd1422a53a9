package frrproc_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perouter/perouter/operator/frrproc"
	"github.com/perouter/perouter/operator/frrproc/frrproctest"
	"github.com/perouter/perouter/operator/nsexec"
)

func TestStartRunsDaemonsInNetnsWithInitialConfig(t *testing.T) {
	frrproctest.RequireFRR(t)
	const initial = `router bgp 64512
 bgp router-id 10.0.0.1
 neighbor 192.0.2.2 remote-as 64513
!
`
	began := time.Now()
	inst := frrproctest.Start(t, frrproc.Options{InitialConfig: initial})
	t.Logf("start of %v with initial config: %v", frrproc.DefaultDaemons, time.Since(began))

	if !inst.Alive() {
		t.Fatal("Alive() = false right after Start")
	}
	running, err := inst.RunningConfig()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"router bgp 64512", "neighbor 192.0.2.2 remote-as 64513"} {
		if !strings.Contains(running, want) {
			t.Errorf("running config lacks %q:\n%s", want, running)
		}
	}

	daemons, err := inst.Vtysh(context.Background(), "-c", "show daemons")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(daemons), frrproc.DefaultDaemons; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("show daemons = %v, want %v", got, want)
	}

	wantNetns, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	nsOut, err := nsexec.Run(context.Background(), inst.Netns(), "readlink", "/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	targetNetns := strings.TrimSpace(string(nsOut))
	if targetNetns == wantNetns {
		t.Fatal("test netns equals the root netns")
	}
	for _, d := range frrproc.DefaultDaemons {
		pid := inst.PID(d)
		got, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/net")
		if err != nil {
			t.Fatalf("%s pid %d: %v", d, pid, err)
		}
		if got != targetNetns {
			t.Errorf("%s runs in %s, want netns %s (%s)", d, got, inst.Netns(), targetNetns)
		}
		pidFile, err := os.ReadFile(filepath.Join(inst.Dir(), d+".pid"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(pidFile)) != strconv.Itoa(pid) {
			t.Errorf("%s pid file says %s, process is %d", d, pidFile, pid)
		}
	}

	// bgpd must have registered with zebra right away: a client that missed
	// zebra's socket retries only after 10 s.
	zclients, err := inst.Vtysh(context.Background(), "-c", "show zebra client summary")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"bgp", "static", "bfd"} {
		if !strings.Contains(zclients, c) {
			t.Errorf("zebra has no %s client:\n%s", c, zclients)
		}
	}
}

func TestStopKillsDaemonsAndRemovesDir(t *testing.T) {
	frrproctest.RequireFRR(t)
	inst := frrproctest.Start(t, frrproc.Options{Daemons: []string{"zebra", "bgpd"}})
	pids := []int{inst.PID("zebra"), inst.PID("bgpd")}
	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
	if inst.Alive() {
		t.Error("Alive() = true after Stop")
	}
	for _, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			t.Errorf("pid %d still exists after Stop", pid)
		}
	}
	if _, err := os.Stat(inst.Dir()); !os.IsNotExist(err) {
		t.Errorf("dir %s still exists after Stop (stat err %v)", inst.Dir(), err)
	}
}

func TestKillMakesInstanceNotAlive(t *testing.T) {
	frrproctest.RequireFRR(t)
	inst := frrproctest.Start(t, frrproc.Options{Daemons: []string{"zebra", "staticd"}})
	if err := inst.Kill("staticd"); err != nil {
		t.Fatal(err)
	}
	if inst.Alive() {
		t.Error("Alive() = true after staticd was killed")
	}
}

func TestStartErrors(t *testing.T) {
	frrproctest.RequireFRR(t)
	netns := frrproctest.Netns(t)
	nonEmpty := t.TempDir()
	if err := os.WriteFile(filepath.Join(nonEmpty, "keep"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		opts    frrproc.Options
		wantErr string
	}{
		"missing netns": {
			opts:    frrproc.Options{Netns: "frrproctest-does-not-exist", Dir: filepath.Join(os.TempDir(), "frrproctest-x")},
			wantErr: `netns "frrproctest-does-not-exist"`,
		},
		"non-empty dir is refused because Stop would remove it": {
			opts:    frrproc.Options{Netns: netns, Dir: nonEmpty},
			wantErr: "is not empty",
		},
		"dir unreachable for user frr": {
			opts:    frrproc.Options{Netns: netns, Dir: filepath.Join(t.TempDir(), "frr")},
			wantErr: "not traversable by user frr",
		},
		"unknown daemon": {
			opts:    frrproc.Options{Netns: netns, Dir: filepath.Join(os.TempDir(), "frrproctest-y"), Daemons: []string{"zebra", "nosuchd"}},
			wantErr: `daemon "nosuchd"`,
		},
		"initial config FRR rejects": {
			opts:    frrproc.Options{Netns: netns, Dir: filepath.Join(os.TempDir(), "frrproctest-z"), Daemons: []string{"zebra", "bgpd"}, InitialConfig: "no ipv6 forwarding\nrouter bgp 64512\n neighbor 1.2.3.4 remote-as banana\n"},
			wantErr: "Unknown command",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			inst, err := frrproc.Start(context.Background(), tc.opts)
			if err == nil {
				_ = inst.Stop() // the test only needs the directory released
				t.Fatalf("Start succeeded, want error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Start error = %v, want it to contain %q", err, tc.wantErr)
			}
			if tc.opts.Dir == nonEmpty {
				return
			}
			if _, statErr := os.Stat(tc.opts.Dir); statErr == nil {
				t.Errorf("failed Start left %s behind", tc.opts.Dir)
			}
		})
	}
}

func TestExtraArgsReachDaemon(t *testing.T) {
	frrproctest.RequireFRR(t)
	// bgpd opens its listening socket with the first BGP instance.
	inst := frrproctest.Start(t, frrproc.Options{
		Daemons:       []string{"zebra", "bgpd"},
		ExtraArgs:     map[string][]string{"bgpd": {"-p", "1179"}},
		InitialConfig: "no ipv6 forwarding\nrouter bgp 64512\n",
	})
	out, err := nsexec.Run(context.Background(), inst.Netns(), "ss", "-Hltn", "sport = :1179")
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	if !strings.Contains(string(out), ":1179") {
		t.Errorf("bgpd does not listen on port 1179 in netns %s; ss says %q", inst.Netns(), out)
	}
}

func TestStartRetriesUpToAttempts(t *testing.T) {
	var retried []string
	_, err := frrproc.Start(context.Background(), frrproc.Options{
		Netns:    "frrproc-test-no-such-netns",
		Dir:      t.TempDir(),
		Attempts: 3,
		Logf:     func(format string, args ...any) { retried = append(retried, fmt.Sprintf(format, args...)) },
	})
	if err == nil || !strings.Contains(err.Error(), "attempt 3") {
		t.Fatalf("Start = %v, want the third attempt's error", err)
	}
	if len(retried) != 2 || !strings.Contains(retried[1], "attempt 2 failed") {
		t.Fatalf("retries logged: %q, want attempts 1 and 2", retried)
	}
}

// TestStartFromRoot runs the daemons chrooted in an FRR root file system
// (PEROUTER_FRR10_ROOT, FRR 10: mgmtd is added and started first) and
// drives them with the root's vtysh: the daemons run in the root, take the
// initial config (with "no ipv6 forwarding", which the host's 8.4 vtysh
// sends to a 10.7 zebra that refuses it: "Unknown command"), and stop
// cleanly.
func TestStartFromRoot(t *testing.T) {
	frrproctest.RequireFRR(t)
	root := os.Getenv("PEROUTER_FRR10_ROOT")
	if root == "" {
		t.Skip("PEROUTER_FRR10_ROOT is unset: no FRR root file system (make test-unit builds one with hack/frr-rootfs.sh)")
	}
	inst := frrproctest.Start(t, frrproc.Options{Root: root, Daemons: []string{"zebra", "bgpd"}, InitialConfig: "no ipv6 forwarding\nrouter bgp 64512\n bgp router-id 10.0.0.1\n neighbor 192.0.2.2 remote-as 64513\nexit\n"})
	// vtysh answers "show version" itself; the daemons' file system root
	// says whose binaries run.
	for _, d := range []string{"mgmtd", "zebra", "bgpd"} {
		if got, err := os.Readlink(fmt.Sprintf("/proc/%d/root", inst.PID(d))); err != nil || got != root {
			t.Errorf("%s runs in root %q (%v), want %s", d, got, err, root)
		}
	}
	daemons, err := inst.Vtysh(context.Background(), "-c", "show daemons")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(daemons, "mgmtd") || !strings.Contains(daemons, "bgpd") {
		t.Errorf("show daemons = %q, want mgmtd, zebra and bgpd answering", daemons)
	}
	if got := inst.Daemons(); strings.Join(got, " ") != "mgmtd zebra bgpd" {
		t.Errorf("Daemons() = %v, want mgmtd added first in an FRR 10 root", got)
	}
	running, err := inst.RunningConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(running, "neighbor 192.0.2.2 remote-as 64513") {
		t.Errorf("running config lacks the initial config:\n%s", running)
	}
	if err := inst.Stop(); err != nil {
		t.Fatal(err)
	}
}
