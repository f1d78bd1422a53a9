package ipam

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestHost(t *testing.T) {
	tests := map[string]struct {
		pool    string
		k       int
		want    string
		wantErr string
	}{
		"network address":              {pool: "100.65.0.0/24", k: 0, want: "100.65.0.0"},
		"unmasked pool is masked":      {pool: "100.65.0.77/24", k: 3, want: "100.65.0.3"},
		"last usable before broadcast": {pool: "100.65.0.0/24", k: 254, want: "100.65.0.254"},
		"broadcast refused":            {pool: "100.65.0.0/24", k: 255, wantErr: "pool 100.65.0.0/24 is too small: no usable address at offset 255 (usable: 0..254)"},
		"past the pool refused":        {pool: "100.65.0.0/24", k: 256, wantErr: "pool 100.65.0.0/24 is too small: no usable address at offset 256 (usable: 0..254)"},
		"carry across bytes":           {pool: "10.0.0.0/8", k: 65536 + 256 + 1, want: "10.1.1.1"},
		"slash 31 has no broadcast":    {pool: "10.0.0.0/31", k: 1, want: "10.0.0.1"},
		"slash 32 holds one":           {pool: "10.0.0.5/32", k: 0, want: "10.0.0.5"},
		"slash 32 refuses 1":           {pool: "10.0.0.5/32", k: 1, wantErr: "pool 10.0.0.5/32 is too small: no usable address at offset 1 (usable: 0..0)"},
		"negative":                     {pool: "10.0.0.0/24", k: -1, wantErr: "negative offset -1"},
		"ipv6":                         {pool: "fd00:100::/64", k: 258, want: "fd00:100::102"},
		"ipv6 last address allowed":    {pool: "fd00::/126", k: 3, want: "fd00::3"},
		"ipv6 too small":               {pool: "fd00::/126", k: 4, wantErr: "pool fd00::/126 is too small: no usable address at offset 4 (usable: 0..3)"},
		"ipv6 huge pool":               {pool: "fd00::/8", k: 1 << 40, want: "fd00::100:0:0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Host(netip.MustParsePrefix(tc.pool), tc.k)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" && got.String() != tc.want {
				t.Errorf("Host(%s, %d) = %s, want %s", tc.pool, tc.k, got, tc.want)
			}
		})
	}
}

// The worked examples of docs/addressing.md; keep both in step.
func TestVTEP(t *testing.T) {
	tests := map[string]struct {
		pool    string
		index   int
		want    string
		wantErr string
	}{
		"index 0 gets the network address": {pool: "100.65.0.0/24", index: 0, want: "100.65.0.0/32"},
		"index 1":                          {pool: "100.65.0.0/24", index: 1, want: "100.65.0.1/32"},
		"index 254":                        {pool: "100.65.0.0/24", index: 254, want: "100.65.0.254/32"},
		"index 255 is the broadcast":       {pool: "100.65.0.0/24", index: 255, wantErr: "VTEP pool 100.65.0.0/24, node index 255"},
		"ipv6":                             {pool: "fd00:65::/64", index: 1, want: "fd00:65::1/128"},
		"ipv6 small pool":                  {pool: "fd00:65::/127", index: 2, wantErr: "VTEP pool fd00:65::/127, node index 2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := VTEP(netip.MustParsePrefix(tc.pool), tc.index)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" && got.String() != tc.want {
				t.Errorf("VTEP(%s, %d) = %s, want %s", tc.pool, tc.index, got, tc.want)
			}
		})
	}
}

func TestRouterID(t *testing.T) {
	tests := map[string]struct {
		pool    string
		index   int
		want    string
		wantErr string
	}{
		"default pool index 0":   {pool: "10.0.0.0/24", index: 0, want: "10.0.0.1"},
		"default pool index 5":   {pool: "10.0.0.0/24", index: 5, want: "10.0.0.6"},
		"last usable":            {pool: "10.0.0.0/24", index: 253, want: "10.0.0.254"},
		"broadcast refused":      {pool: "10.0.0.0/24", index: 254, wantErr: "router-id pool 10.0.0.0/24, node index 254"},
		"ipv6 pool refused":      {pool: "fd00::/64", index: 0, wantErr: "must be IPv4"},
		"slash 30 holds two":     {pool: "10.9.9.0/30", index: 1, want: "10.9.9.2"},
		"slash 30 refuses a 3rd": {pool: "10.9.9.0/30", index: 2, wantErr: "node index 2"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := RouterID(netip.MustParsePrefix(tc.pool), tc.index)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" && got.String() != tc.want {
				t.Errorf("RouterID(%s, %d) = %s, want %s", tc.pool, tc.index, got, tc.want)
			}
		})
	}
}

func TestHostSession(t *testing.T) {
	tests := map[string]struct {
		cidr       string
		index      int
		wantRouter string
		wantHost   string
		wantErr    string
	}{
		"index 0":                         {cidr: "192.169.10.0/24", index: 0, wantRouter: "192.169.10.1/24", wantHost: "192.169.10.2/24"},
		"index 1":                         {cidr: "192.169.10.0/24", index: 1, wantRouter: "192.169.10.1/24", wantHost: "192.169.10.3/24"},
		"index 5":                         {cidr: "192.169.10.0/24", index: 5, wantRouter: "192.169.10.1/24", wantHost: "192.169.10.7/24"},
		"last before broadcast":           {cidr: "192.169.10.0/24", index: 252, wantRouter: "192.169.10.1/24", wantHost: "192.169.10.254/24"},
		"broadcast refused":               {cidr: "192.169.10.0/24", index: 253, wantErr: "localCIDR 192.169.10.0/24, node index 253"},
		"slash 30 index 0":                {cidr: "192.169.10.0/30", index: 0, wantRouter: "192.169.10.1/30", wantHost: "192.169.10.2/30"},
		"slash 30 index 1 is broadcast":   {cidr: "192.169.10.0/30", index: 1, wantErr: "localCIDR 192.169.10.0/30, node index 1"},
		"slash 30 index 3":                {cidr: "192.169.10.0/30", index: 3, wantErr: "localCIDR 192.169.10.0/30, node index 3"},
		"network not ending in 0":         {cidr: "192.169.10.64/26", index: 0, wantRouter: "192.169.10.64/26", wantHost: "192.169.10.65/26"},
		"network not ending in 0 index 3": {cidr: "192.169.10.64/26", index: 3, wantRouter: "192.169.10.64/26", wantHost: "192.169.10.68/26"},
		"ipv6 index 0":                    {cidr: "fd00:10::/64", index: 0, wantRouter: "fd00:10::1/64", wantHost: "fd00:10::2/64"},
		"ipv6 index 5":                    {cidr: "fd00:10::/64", index: 5, wantRouter: "fd00:10::1/64", wantHost: "fd00:10::7/64"},
		"ipv6 small pool":                 {cidr: "fd00:10::/126", index: 2, wantErr: "localCIDR fd00:10::/126, node index 2"},
		"negative index":                  {cidr: "192.169.10.0/24", index: -1, wantErr: "negative node index -1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			router, host, err := HostSession(netip.MustParsePrefix(tc.cidr), tc.index)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != "" {
				return
			}
			if router.String() != tc.wantRouter || host.String() != tc.wantHost {
				t.Errorf("HostSession(%s, %d) = %s, %s; want %s, %s", tc.cidr, tc.index, router, host, tc.wantRouter, tc.wantHost)
			}
		})
	}
}

func TestMACs(t *testing.T) {
	tests := map[string]struct {
		got  net.HardwareAddr
		want string
	}{
		"router mac node 0 vni 100":        {got: RouterMAC(100, 0), want: "02:00:00:00:00:64"},
		"router mac node 1 vni 100":        {got: RouterMAC(100, 1), want: "02:00:01:00:00:64"},
		"router mac node 300 vni 16777215": {got: RouterMAC(16777215, 300), want: "02:01:2c:ff:ff:ff"},
		"gateway mac vni 200":              {got: GatewayMAC(200), want: "06:00:00:00:00:c8"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got.String() != tc.want {
				t.Errorf("got %s, want %s", tc.got, tc.want)
			}
			if tc.got[0]&0x02 == 0 || tc.got[0]&0x01 != 0 {
				t.Errorf("%s is not a locally administered unicast MAC", tc.got)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("got no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}
