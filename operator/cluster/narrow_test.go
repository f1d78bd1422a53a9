package cluster

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/rest"
)

func TestNarrowCollections(t *testing.T) {
	const secrets = "/api/v1/namespaces/perouter-system/secrets"
	tests := map[string]struct {
		method, url string
		want        string // fieldSelector the server sees
	}{
		"list":                        {http.MethodGet, secrets, "metadata.name=cert"},
		"watch":                       {http.MethodGet, secrets + "?watch=true&resourceVersion=5", "metadata.name=cert"},
		"caller's selector is ANDed":  {http.MethodGet, secrets + "?fieldSelector=type%3Dkubernetes.io%2Ftls", "type=kubernetes.io/tls,metadata.name=cert"},
		"get by name is untouched":    {http.MethodGet, secrets + "/other", ""},
		"update is untouched":         {http.MethodPut, secrets + "/cert", ""},
		"other namespace untouched":   {http.MethodGet, "/api/v1/namespaces/default/secrets", ""},
		"other collection untouched":  {http.MethodGet, "/api/v1/nodes", ""},
		"trailing slash still narrow": {http.MethodGet, secrets + "/", "metadata.name=cert"},
	}
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = r.URL.Query().Get("fieldSelector")
	}))
	defer srv.Close()
	cfg := narrowCollections(&rest.Config{Host: srv.URL}, map[string]string{secrets: "cert"})
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got = "unset"
			req, err := http.NewRequest(tc.method, srv.URL+tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got != tc.want {
				t.Errorf("%s %s: server saw fieldSelector %q, want %q", tc.method, tc.url, got, tc.want)
			}
		})
	}
}
