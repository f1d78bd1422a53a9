package cluster

import (
	"net/http"
	"path"
	"strings"

	"k8s.io/client-go/rest"
)

// narrowCollections wraps cfg so that every list and watch of the named
// collections asks the API server for one object by name (fieldSelector
// metadata.name=<name>, ANDed with any selector the caller set).
//
// Why: cert-controller's cache lists and watches every Secret of the
// namespace and every ValidatingWebhookConfiguration of the cluster, and
// RBAC can bound list and watch by resourceNames only when the request
// names the object this way. Narrowed, the labeler's role reaches its own
// certificate Secret and webhook configuration and nothing else. Nothing
// else in the labeler lists these kinds; a get by name is not touched.
//
// collections maps a collection's URL path (e.g.
// /api/v1/namespaces/perouter-system/secrets) to the one name to ask for.
func narrowCollections(cfg *rest.Config, collections map[string]string) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return narrowingTransport{next: rt, collections: collections}
	})
	return cfg
}

type narrowingTransport struct {
	next        http.RoundTripper
	collections map[string]string
}

func (t narrowingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	name, ok := t.collections[path.Clean(req.URL.Path)]
	if !ok || req.Method != http.MethodGet {
		return t.next.RoundTrip(req)
	}
	req = req.Clone(req.Context())
	q := req.URL.Query()
	selectors := []string{"metadata.name=" + name}
	if s := q.Get("fieldSelector"); s != "" {
		selectors = append([]string{s}, selectors...)
	}
	q.Set("fieldSelector", strings.Join(selectors, ","))
	req.URL.RawQuery = q.Encode()
	return t.next.RoundTrip(req)
}
