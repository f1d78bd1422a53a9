package vtysh

import "testing"

func TestParseVersion(t *testing.T) {
	tests := map[string]struct {
		out     string
		want    Version
		wantErr bool
	}{
		"debian bookworm": {out: "FRRouting 8.4.4 (leafA) on Linux(6.18.0).\nCopyright 1996-2005 Kunihiro Ishiguro, et al.\n", want: Version{8, 4}},
		"image":           {out: "FRRouting 10.7.1 (pe-kind-worker) on Linux(6.12.48).\n", want: Version{10, 7}},
		"two-part":        {out: "FRRouting 10.3 (r1) on Linux(6.1.0).\n", want: Version{10, 3}},
		"not FRR":         {out: "% Unknown command: show version\n", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseVersion(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseVersion(%q) error = %v, want error %v", tc.out, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseVersion(%q) = %v, want %v", tc.out, got, tc.want)
			}
		})
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := map[string]struct {
		v            Version
		major, minor int
		want         bool
	}{
		"older major": {v: Version{8, 4}, major: 10, minor: 6, want: false},
		"older minor": {v: Version{10, 3}, major: 10, minor: 6, want: false},
		"same":        {v: Version{10, 6}, major: 10, minor: 6, want: true},
		"newer minor": {v: Version{10, 7}, major: 10, minor: 6, want: true},
		"newer major": {v: Version{11, 0}, major: 10, minor: 6, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.v.AtLeast(tc.major, tc.minor); got != tc.want {
				t.Errorf("%v.AtLeast(%d, %d) = %v, want %v", tc.v, tc.major, tc.minor, got, tc.want)
			}
		})
	}
}
