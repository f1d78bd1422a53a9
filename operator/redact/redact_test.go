package redact

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/go-logr/logr/funcr"
)

// The inputs are text FRR 8.4 and frr-reload.py printed for refused
// configs holding the password s3cr3tPW (TestRefusalsDoNotLeakPasswords
// in operator/reloader produces them against real FRR).
func TestSecrets(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"vtysh parse error": {
			in:   "line 2: % Unknown command:  neighbor 192.0.2.2 password s3cr3tPW extra",
			want: "line 2: % Unknown command:  neighbor 192.0.2.2 password <redacted> extra",
		},
		"daemon refusal": {
			in:   "line 4: Failure to communicate[13] to bgpd, line:  neighbor 10.9.9.9 password s3cr3tPW",
			want: "line 4: Failure to communicate[13] to bgpd, line:  neighbor 10.9.9.9 password <redacted>",
		},
		"python bytes repr with an escaped newline": {
			in:   `b'line 2: % Unknown command:  neighbor 192.0.2.2 password s3cr3tPW\nline 3: x'`,
			want: `b'line 2: % Unknown command:  neighbor 192.0.2.2 password <redacted>\nline 3: x'`,
		},
		"python list repr": {
			in:   `['router bgp 64512', ' neighbor 10.9.9.9 password s3cr3t$%&*(x)']`,
			want: `['router bgp 64512', ' neighbor 10.9.9.9 password <redacted>']`,
		},
		"several on a line and a tab": {
			in:   "neighbor a password p1 neighbor b password\tp2",
			want: "neighbor a password <redacted> neighbor b password\t<redacted>",
		},
		"other FRR secrets": {
			in:   "key-string k1\n ip ospf authentication-key k2",
			want: "key-string <redacted>\n ip ospf authentication-key <redacted>",
		},
		"nothing to hide": {
			in:   "% Specify remote-as or peer-group commands first\nspec.neighbors[0].password: character 3 is not allowed",
			want: "% Specify remote-as or peer-group commands first\nspec.neighbors[0].password: character 3 is not allowed",
		},
		"keyword at the end": {in: "neighbor 1.2.3.4 password", want: "neighbor 1.2.3.4 password"},
		"already redacted":   {in: "password <redacted>", want: "password <redacted>"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := Secrets(tc.in); got != tc.want {
				t.Errorf("Secrets:\n got %q\nwant %q", got, tc.want)
			}
			if got := Secrets(Secrets(tc.in)); got != tc.want {
				t.Errorf("Secrets is not idempotent: %q", got)
			}
		})
	}
}

func TestError(t *testing.T) {
	if Error(nil) != nil {
		t.Fatal("Error(nil) != nil")
	}
	inner := fmt.Errorf("reload: %w: neighbor 1.2.3.4 password s3cr3tPW", fs.ErrNotExist)
	err := Error(inner)
	if strings.Contains(err.Error(), "s3cr3tPW") || !strings.Contains(err.Error(), "password <redacted>") {
		t.Errorf("Error() = %q", err.Error())
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("errors.Is does not reach the wrapped error")
	}
	if Error(err) != err {
		t.Error("wrapping twice")
	}
}

func TestLogger(t *testing.T) {
	var lines []string
	l := Logger(funcr.New(func(prefix, args string) { lines = append(lines, args) }, funcr.Options{Verbosity: 1}))
	l = l.WithValues("config", "neighbor 1.2.3.4 password v1").WithName("x")
	l.Info("applying neighbor 1.2.3.4 password m1", "lines", []string{"neighbor a password v2"}, "n", 3)
	l.V(1).Info("debug", "output", "password v3")
	l.Error(errors.New("line 2: neighbor 1.2.3.4 password e1"), "failed", "cause", errors.New("password v4"))
	all := strings.Join(lines, "\n")
	for _, secret := range []string{"v1", "m1", "v2", "v3", "e1", "v4"} {
		if strings.Contains(all, "password "+secret) {
			t.Errorf("log holds %q:\n%s", secret, all)
		}
	}
	if got := strings.Count(all, "<redacted>"); got != 8 {
		t.Errorf("%d redactions, want 8 (the WithValues value is repeated on each line):\n%s", got, all)
	}
	if !strings.Contains(all, `"n"=3`) {
		t.Errorf("other values changed:\n%s", all)
	}
}
