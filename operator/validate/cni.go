package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MinCNIVersion is the oldest CNI spec version a CNIDevice's rawConfig may
// use: from 1.0.0 on the spec defines network configuration lists only
// (upstream OpenPERouter accepts the same), and Debian's plugins
// (containernetworking-plugins 1.1.1) implement 1.0.0.
const MinCNIVersion = "1.0.0"

// CNIConfig checks a CNIDevice's rawConfig without running any plugin:
// it must be a JSON object holding a CNI network configuration list
// (cniVersion 1.0.0 or later, a name, and a non-empty plugins list, each
// plugin naming its type). Whether the plugins exist and accept their
// settings is only known on the node: the controller reports that.
func CNIConfig(raw []byte) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return errors.New(`must be set: a CNI network configuration list such as {"cniVersion": "1.0.0", "name": "underlay", "plugins": [{"type": "macvlan", "master": "eth0", "ipam": {"type": "static", "addresses": [{"address": "192.168.11.3/24"}]}}]}`)
	}
	var conf map[string]json.RawMessage
	if err := json.Unmarshal(raw, &conf); err != nil {
		return fmt.Errorf("is not a JSON object: %v", err)
	}
	var problems []string
	str := func(key string) (string, bool) {
		v, ok := conf[key]
		if !ok {
			return "", false
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			problems = append(problems, fmt.Sprintf("%s must be a string", key))
			return "", false
		}
		return s, true
	}
	switch v, ok := str("cniVersion"); {
	case !ok && conf["cniVersion"] == nil:
		problems = append(problems, fmt.Sprintf("cniVersion is missing: set it to %q or later", MinCNIVersion))
	case ok:
		if err := cniVersionAtLeast(v, MinCNIVersion); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if name, ok := str("name"); ok && name == "" || !ok && conf["name"] == nil {
		problems = append(problems, "name is missing: name the network (libcni keys its cache by it)")
	}
	plugins, hasPlugins := conf["plugins"]
	switch {
	case !hasPlugins && conf["type"] != nil:
		problems = append(problems, `is a single-plugin configuration, which CNI 1.0.0 dropped: move the plugin into a list, {"cniVersion": ..., "name": ..., "plugins": [{"type": ..., ...}]}`)
	case !hasPlugins:
		problems = append(problems, `plugins is missing: list the plugins to run, e.g. [{"type": "macvlan", "master": "eth0", "ipam": {...}}]`)
	default:
		var list []map[string]json.RawMessage
		if err := json.Unmarshal(plugins, &list); err != nil {
			problems = append(problems, "plugins must be a list of JSON objects")
			break
		}
		if len(list) == 0 {
			problems = append(problems, "plugins is empty: list at least the plugin that creates the link")
		}
		for i, p := range list {
			var typ string
			if t, ok := p["type"]; !ok || json.Unmarshal(t, &typ) != nil || typ == "" {
				problems = append(problems, fmt.Sprintf("plugins[%d].type is missing: name the plugin (macvlan, ipvlan, ...)", i))
			} else if strings.ContainsAny(typ, `/\`) {
				problems = append(problems, fmt.Sprintf("plugins[%d].type %q must be a plugin name, not a path: the controller looks plugins up in its plugin directory", i, typ))
			}
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// cniVersionAtLeast checks that v is a MAJOR.MINOR.PATCH version not older
// than min.
func cniVersionAtLeast(v, min string) error {
	have, ok := semver(v)
	want, _ := semver(min)
	if !ok {
		return fmt.Errorf("cniVersion %q is not a version (MAJOR.MINOR.PATCH): set it to %q or later", v, min)
	}
	for i := range have {
		if have[i] != want[i] {
			if have[i] < want[i] {
				return fmt.Errorf("cniVersion %q is older than %s, the first version with configuration lists only: set it to %q or later", v, min, min)
			}
			return nil
		}
	}
	return nil
}

func semver(v string) ([3]int, bool) {
	var out [3]int
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return out, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || p == "" || strings.HasPrefix(p, "+") {
			return out, false
		}
		out[i] = n
	}
	return out, true
}

// CNIRuntimeConfig checks a CNIDevice's runtimeConfig: a JSON object (the
// capability arguments, by capability name).
func CNIRuntimeConfig(raw []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return errors.New(`must be a JSON object of capability arguments, e.g. {"ips": ["192.168.11.3/24"]}`)
	}
	return nil
}

// CNILinkName checks the name of the link a CNI plugin creates in the
// router namespace: a Linux device name that is not one perouter gives its
// own devices.
func CNILinkName(s string) error {
	return userDevice(s, "choose another interfaceName (the default is net1)")
}
