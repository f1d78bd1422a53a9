package ipam

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestAddressingDoc checks every worked example in docs/addressing.md.
func TestAddressingDoc(t *testing.T) {
	data, err := os.ReadFile("../../docs/addressing.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "<!-- examples:")
	table, _, ok2 := strings.Cut(rest, "<!-- end examples -->")
	if !ok || !ok2 {
		t.Fatal("docs/addressing.md lacks the examples markers")
	}
	rows := 0
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 4 || cells[0] == "function" || strings.HasPrefix(cells[0], "---") {
			continue
		}
		rows++
		fn, pool, index, want := cells[0], strings.Trim(cells[1], "`"), cells[2], cells[3]
		got := evaluate(t, fn, pool, index)
		if got != want {
			t.Errorf("%s(%s, %s): doc says %s, code gives %s", fn, pool, index, want, got)
		}
	}
	if rows < 10 {
		t.Errorf("found only %d example rows", rows)
	}
}

func evaluate(t *testing.T, fn, pool, index string) string {
	t.Helper()
	n, _ := strconv.Atoi(index)
	quote := func(v any, err error) string {
		if err != nil {
			return "error: `" + err.Error() + "`"
		}
		return fmt.Sprintf("`%v`", v)
	}
	vni := func() uint32 {
		v, err := strconv.Atoi(strings.TrimPrefix(pool, "VNI "))
		if err != nil {
			t.Fatalf("bad VNI cell %q", pool)
		}
		return uint32(v)
	}
	switch fn {
	case "VTEP":
		return quote(VTEP(netip.MustParsePrefix(pool), n))
	case "RouterID":
		return quote(RouterID(netip.MustParsePrefix(pool), n))
	case "HostSession":
		r, h, err := HostSession(netip.MustParsePrefix(pool), n)
		if err != nil {
			return quote(nil, err)
		}
		return fmt.Sprintf("router `%s`, host `%s`", r, h)
	case "RouterMAC":
		return quote(RouterMAC(vni(), n), nil)
	case "GatewayMAC":
		return quote(GatewayMAC(vni()), nil)
	}
	t.Fatalf("unknown function %q in docs/addressing.md", fn)
	return ""
}
