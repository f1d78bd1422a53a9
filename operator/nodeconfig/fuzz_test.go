package nodeconfig

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/perouter/perouter/operator/objects"
)

// forbidden are the characters that could end an FRR command or start a
// new one or a comment.
const forbidden = "\n\r \t!#"

// FuzzDecodeValidate feeds arbitrary YAML through the path every consumer
// uses (Decode, validate, Build) and checks that no string reaching the
// per-node model, hence FRR and the kernel, can break out of its token.
func FuzzDecodeValidate(f *testing.F) {
	examples, _ := filepath.Glob("../../docs/examples/*/*.yaml")
	var all []byte
	for _, p := range examples {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		all = append(all, data...)
		all = append(all, "\n---\n"...)
	}
	f.Add(all)
	f.Add([]byte("apiVersion: network.perouter.io/v1alpha1\nkind: L3VNI\nmetadata: {name: x}\nspec: {vrf: \"a\\nb\", vni: 1, importRTs: [\"1:1 !\"]}\n"))
	f.Add([]byte("apiVersion: network.perouter.io/v1alpha1\nkind: Underlay\nmetadata: {name: u}\nspec: {asn: 1, neighbors: [{type: External, interface: \"eth0 \", password: \"a#b\"}], tunnelEndpoint: {cidrs: [\"10.0.0.0/8\"]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := objects.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, node := range []Node{{Name: "n0", Index: 0}, {Name: "n7", Index: 7, Labels: map[string]string{"passthrough": "true"}}} {
			cfg, _, err := Build(s, node)
			if err != nil {
				continue
			}
			if bad := unsafeStrings(reflect.ValueOf(cfg), "Config"); len(bad) > 0 {
				t.Fatalf("unsafe strings in the model built for %s:\n%s", node.Name, strings.Join(bad, "\n"))
			}
		}
	})
}

var (
	addrType   = reflect.TypeOf(netip.Addr{})
	prefixType = reflect.TypeOf(netip.Prefix{})
	macType    = reflect.TypeOf(net.HardwareAddr{})
)

// unsafeStrings walks v and returns the path and value of every string, or
// value rendered as text, that contains a forbidden character.
func unsafeStrings(v reflect.Value, path string) []string {
	check := func(s string) []string {
		if strings.ContainsAny(s, forbidden) {
			return []string{fmt.Sprintf("%s = %q", path, s)}
		}
		return nil
	}
	switch v.Type() {
	case addrType, prefixType:
		// The zero value means "not set" and is never rendered.
		if v.IsZero() {
			return nil
		}
		return check(fmt.Sprint(v.Interface()))
	case macType:
		return check(fmt.Sprint(v.Interface()))
	}
	var out []string
	switch v.Kind() {
	case reflect.String:
		return check(v.String())
	case reflect.Pointer:
		if !v.IsNil() {
			out = unsafeStrings(v.Elem(), path)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			out = append(out, unsafeStrings(v.Index(i), fmt.Sprintf("%s[%d]", path, i))...)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			out = append(out, unsafeStrings(v.Field(i), path+"."+v.Type().Field(i).Name)...)
		}
	}
	return out
}

// The walker must see every string: a model with a bad value is caught.
func TestUnsafeStringsFindsInjections(t *testing.T) {
	cfg := Config{
		Underlay: &Underlay{Neighbors: []Neighbor{{Interface: "eth0", Password: "a b"}}},
		L3VNIs:   []L3VNI{{VRF: "red", ImportRTs: []string{"1:1", "1:2\nrouter bgp 2"}}},
		L2VNIs:   []L2VNI{{HostBridge: HostBridge{Name: "br#0"}}},
	}
	got := unsafeStrings(reflect.ValueOf(cfg), "Config")
	want := []string{
		`Config.Underlay.Neighbors[0].Password = "a b"`,
		`Config.L3VNIs[0].ImportRTs[1] = "1:2\nrouter bgp 2"`,
		`Config.L2VNIs[0].HostBridge.Name = "br#0"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
