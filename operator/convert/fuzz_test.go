package convert

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/perouter/perouter/operator/objects"
)

// FuzzConvert feeds arbitrary YAML to Convert: it must not panic, and what
// it prints must be YAML perouter's strict decoder reads without a parse
// error naming a document it cannot split (each output document is one
// object of an input document, so a converted stream never merges or
// splits documents).
func FuzzConvert(f *testing.F) {
	// Seeds: upstream's corpus where it is present (corpusDir), and the
	// documented examples in upstream's format, which always are.
	var files []string
	if dir := os.Getenv("PEROUTER_UPSTREAM_CORPUS"); dir != "" {
		files, _ = filepath.Glob(filepath.Join(dir, "*", "*", "*", "*.yaml"))
	} else {
		files, _ = filepath.Glob(filepath.Join("..", "..", "..", "shared", "upstream-corpus", "*", "*", "*", "*.yaml"))
	}
	examples, _ := filepath.Glob(filepath.Join("..", "..", "docs", "examples", "upstream", "*", "*.yaml"))
	files = append(files, examples...)
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: v1\nkind: List\nitems: [{apiVersion: openpe.openperouter.github.io/v1alpha1, kind: L2VNI, metadata: {name: a}, spec: {vrf: r, vni: 1}}]\n"))
	f.Add([]byte("apiVersion: openpe.openperouter.github.io/v1alpha1\nkind: Underlay\nmetadata: {name: u}\nspec: {nics: [a], evpn: {vtepcidr: 10.0.0.0/24}, neighbors: [{type: external}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		outs, _, err := Convert([]Input{{Name: "in.yaml", Data: data}})
		if err != nil {
			return
		}
		if len(outs) != 1 {
			t.Fatalf("%d outputs for one input", len(outs))
		}
		// Only perouter's own kinds and Secrets come out; the decoder may
		// judge their fields, but must see one object per document.
		_, err = objects.Decode(bytes.NewReader(outs[0].Data))
		for _, e := range objects.Errors(err) {
			if bytes.Contains([]byte(e.Error()), []byte("error converting YAML to JSON")) {
				t.Fatalf("converted output is not YAML: %v\n%s", e, outs[0].Data)
			}
		}
	})
}
