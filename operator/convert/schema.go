package convert

import "github.com/perouter/perouter/operator/api/v1alpha1"

// field describes one field of an upstream OpenPERouter object and how it
// becomes perouter's. Every field of upstream's API types is listed, for
// each version: a field that is not listed is unknown to that version (a
// typo, or a newer API). A field of upstream main that perouter does not
// implement yet is passed through and refused with the reason
// v1alpha1.NotYetSupported gives; an older field main dropped is refused
// here (unsupported). Nothing is dropped silently.
type field struct {
	// to is perouter's name for the field; empty keeps upstream's.
	to string
	// object lists the fields of an object value.
	object map[string]*field
	// items describes each element of a list value.
	items *field
	// opaque values are copied as they are (label selectors, metadata,
	// CNI configuration): perouter's strict decoder judges them.
	opaque bool
	// values renames enumeration values (upstream's to perouter's);
	// values not listed are kept and judged by perouter's validation.
	values map[string]string
	// unsupported, if set, refuses the field with this reason.
	unsupported string
	// convert, if set, replaces the walk: it returns perouter's key and
	// value for the field (several keys when it returns more).
	convert func(c *docConverter, p path, v any) ([]keyValue, error)
}

type keyValue struct {
	key   string
	value any
}

// version is one upstream API: its apiVersion and the kinds it has.
type version struct {
	name       string // as the docs and change messages call it
	apiVersion string
	kinds      map[string]*field // spec of each kind perouter implements
	// unsupportedKinds are upstream kinds perouter has no counterpart for.
	unsupportedKinds map[string]string
}

const notYet = "perouter does not implement it yet"

// notYetSupported marks a field perouter's schema accepts but does not
// implement yet: convert passes it through under perouter's name, then
// refuses it with the reason v1alpha1.NotYetSupported gives (the one list
// validation, the webhook and the docs use).
func notYetSupported() *field { return &field{opaque: true} }

func scalar() *field { return &field{} }

func unsupported(why string) *field { return &field{unsupported: why} }

func opaque() *field { return &field{opaque: true} }

func object(fields map[string]*field) *field { return &field{object: fields} }

func listOf(f *field) *field { return &field{items: f} }

func renamed(to string, f *field) *field {
	g := *f
	g.to = to
	return &g
}

// unsupportedKinds is shared by both versions.
var unsupportedKinds = v1alpha1.NotYetSupportedKinds

// underlayAddressFamily keeps main's values; upstream main wrote them in
// lower case for a while (its enum was ipv4;ipv6 before IPv4;IPv6), and
// manifests of that time say so.
var underlayAddressFamily = &field{values: map[string]string{"ipv4": v1alpha1.UnderlayAddressFamilyIPv4, "ipv6": v1alpha1.UnderlayAddressFamilyIPv6}}

// The capitalised enumeration values main uses; v0.2.0 wrote them in
// lower case.
var asType = map[string]string{"external": "External", "internal": "Internal"}

// mainVersion is upstream's main (snapshot 2026-08-07, commit 1d5dcdfd):
// the field names are perouter's, the shapes mostly too.
var mainVersion = func() *version {
	hostSession := object(map[string]*field{
		"asn":       scalar(),
		"hostASN":   scalar(),
		"hostType":  scalar(),
		"localCIDR": object(map[string]*field{"ipv4": scalar(), "ipv6": scalar()}),
	})
	bfd := object(map[string]*field{
		"receiveInterval":  scalar(),
		"transmitInterval": scalar(),
		"detectMultiplier": scalar(),
		"sessionMode":      scalar(),
		"minimumTTL":       scalar(),
	})
	neighbor := object(map[string]*field{
		"asn":                  scalar(),
		"type":                 scalar(),
		"address":              scalar(),
		"interface":            scalar(),
		"listenRange":          scalar(),
		"port":                 scalar(),
		"password":             scalar(),
		"passwordSecret":       scalar(),
		"holdTimeSeconds":      scalar(),
		"keepaliveTimeSeconds": scalar(),
		"connectTimeSeconds":   scalar(),
		"properties":           opaque(),
		"bfd":                  bfd,
		"addressFamilies":      opaque(),
	})
	return &version{
		name:       "upstream main",
		apiVersion: "network.openperouter.io/v1alpha1",
		kinds: map[string]*field{
			"Underlay": object(map[string]*field{
				"nodeSelector": opaque(),
				"asn":          scalar(),
				"routerIDCIDR": scalar(),
				"neighbors":    listOf(neighbor),
				"interfaces": listOf(object(map[string]*field{
					"type":          scalar(),
					"networkDevice": object(map[string]*field{"interfaceName": scalar()}),
					"cniDevice":     opaque(),
				})),
				"tunnelEndpoint":  object(map[string]*field{"cidrs": opaque()}),
				"gracefulRestart": object(map[string]*field{"restartTimeSeconds": scalar(), "stalePathTimeSeconds": scalar()}),
				"isis":            notYetSupported(),
				"srv6":            notYetSupported(),
				"routeReflector":  object(map[string]*field{"clusterID": scalar()}),
			}),
			"L3VNI": object(map[string]*field{
				"nodeSelector":          opaque(),
				"vrf":                   scalar(),
				"vni":                   scalar(),
				"vxlanPort":             scalar(),
				"underlayAddressFamily": underlayAddressFamily,
				"hostSession":           hostSession,
				"exportRTs":             opaque(),
				"importRTs":             opaque(),
			}),
			"L2VNI": object(map[string]*field{
				"nodeSelector": opaque(),
				"routingDomain": object(map[string]*field{
					"type":  scalar(),
					"l3vni": object(map[string]*field{"name": scalar()}),
					"l3vpn": notYetSupported(),
				}),
				"vni":                   scalar(),
				"vxlanPort":             scalar(),
				"underlayAddressFamily": underlayAddressFamily,
				"hostMaster": object(map[string]*field{
					"type":        scalar(),
					"linuxBridge": object(map[string]*field{"lifecycle": scalar(), "name": scalar()}),
					"ovsBridge":   notYetSupported(),
				}),
				"gatewayIPs": opaque(),
			}),
			"L3Passthrough": object(map[string]*field{
				"nodeSelector": opaque(),
				"hostSession":  hostSession,
			}),
			"RawFRRConfig": rawFRRConfig(),
		},
		unsupportedKinds: unsupportedKinds,
	}
}()

// releaseVersion is upstream's last release, v0.2.0 (tag v0.2.0, commit
// ac3d5ed4), group openpe.openperouter.github.io, whose field names were
// lower case. The Underlay's nics and evpn are v0.1.0's (same group),
// replaced in v0.2.0 by interfaces and tunnelEndpoint; they are converted
// too, as manifests written for v0.1.0 still use them.
var releaseVersion = func() *version {
	hostSession := object(map[string]*field{
		"asn":       scalar(),
		"hostasn":   renamed("hostASN", scalar()),
		"hosttype":  {to: "hostType", values: asType},
		"localcidr": renamed("localCIDR", object(map[string]*field{"ipv4": scalar(), "ipv6": scalar()})),
	})
	bfd := object(map[string]*field{
		"receiveInterval":  scalar(),
		"transmitInterval": scalar(),
		"detectMultiplier": scalar(),
		"echoInterval":     unsupported(notYet + ": BFD echo mode"),
		"echoMode":         unsupported(notYet + ": BFD echo mode"),
		"passiveMode":      {to: "sessionMode", convert: passiveMode},
		"minimumTTL":       scalar(),
	})
	neighbor := object(map[string]*field{
		"asn":                  scalar(),
		"type":                 {values: asType},
		"address":              scalar(),
		"interface":            scalar(),
		"port":                 scalar(),
		"password":             scalar(),
		"passwordSecret":       scalar(),
		"holdTimeSeconds":      scalar(),
		"keepaliveTimeSeconds": scalar(),
		"connectTimeSeconds":   scalar(),
		"ebgpMultiHop":         scalar(),
		"bfd":                  bfd,
		"addressFamilies":      opaque(),
	})
	return &version{
		name:       "upstream v0.2.0",
		apiVersion: "openpe.openperouter.github.io/v1alpha1",
		kinds: map[string]*field{
			"Underlay": object(map[string]*field{
				"nodeSelector": opaque(),
				"asn":          scalar(),
				"routeridcidr": renamed("routerIDCIDR", scalar()),
				"neighbors":    listOf(neighbor),
				"interfaces": listOf(object(map[string]*field{
					"type":          scalar(),
					"networkDevice": object(map[string]*field{"interfaceName": scalar()}),
				})),
				"nics":            {to: "interfaces", convert: nics},
				"evpn":            {to: "tunnelEndpoint", convert: evpn},
				"tunnelEndpoint":  object(map[string]*field{"cidrs": opaque()}),
				"gracefulRestart": object(map[string]*field{"restartTimeSeconds": scalar(), "stalePathTimeSeconds": scalar()}),
				"isis":            notYetSupported(),
				"srv6":            notYetSupported(),
			}),
			"L3VNI": object(map[string]*field{
				"nodeSelector":          opaque(),
				"vrf":                   scalar(),
				"vni":                   scalar(),
				"vxlanport":             renamed("vxlanPort", scalar()),
				"underlayAddressFamily": underlayAddressFamily,
				"hostsession":           renamed("hostSession", hostSession),
				"exportRTs":             opaque(),
				"importRTs":             opaque(),
			}),
			"L2VNI": object(map[string]*field{
				"nodeSelector":          opaque(),
				"vrf":                   {to: "routingDomain", convert: l2vniVRF},
				"vni":                   scalar(),
				"vxlanport":             renamed("vxlanPort", scalar()),
				"underlayAddressFamily": underlayAddressFamily,
				"hostmaster": renamed("hostMaster", object(map[string]*field{
					"type": {
						values: map[string]string{"linux-bridge": "LinuxBridge", "ovs-bridge": "OVSBridge"},
					},
					"linuxBridge": {convert: linuxBridge},
					"ovsBridge":   notYetSupported(),
				})),
				"l2gatewayips": renamed("gatewayIPs", opaque()),
			}),
			"L3Passthrough": object(map[string]*field{
				"nodeSelector": opaque(),
				"hostsession":  renamed("hostSession", hostSession),
			}),
			"RawFRRConfig": rawFRRConfig(),
		},
		unsupportedKinds: unsupportedKinds,
	}
}()

// rawFRRConfig is the RawFRRConfig's spec, the same in main and v0.2.0.
func rawFRRConfig() *field {
	return object(map[string]*field{
		"nodeSelector": opaque(),
		"priority":     scalar(),
		"rawConfig":    scalar(),
	})
}

// Versions lists the upstream apiVersions convert reads.
func Versions() []string {
	return []string{mainVersion.apiVersion, releaseVersion.apiVersion}
}
