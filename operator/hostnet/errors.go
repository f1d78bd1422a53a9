package hostnet

// VNIError is a datapath error about the devices of one VNI (its VRF,
// bridges, VXLAN, veths): the object of the node's config with that VNI
// is the one it is about. Prepare, Reapply and Activate return their
// errors joined (errors.Join); those about a VNI's devices are VNIErrors.
// Its text is the wrapped error's, unchanged.
type VNIError struct {
	VNI uint32
	Err error
}

func (e *VNIError) Error() string { return e.Err.Error() }

func (e *VNIError) Unwrap() error { return e.Err }

// forVNI runs fn and marks the errors it records as being about the
// devices of vni (none when vni is 0: no VNI's).
func (s *session) forVNI(vni uint32, fn func()) {
	n := len(s.errs)
	fn()
	if vni == 0 {
		return
	}
	for i := n; i < len(s.errs); i++ {
		s.errs[i] = &VNIError{VNI: vni, Err: s.errs[i]}
	}
}

// UnderlayError is a datapath error about one underlay NIC (moving it,
// refusing to move it, its saved host-side state): the node's Underlay
// is the object it is about. Its text is the wrapped error's, unchanged.
type UnderlayError struct {
	Interface string
	Err       error
}

func (e *UnderlayError) Error() string { return e.Err.Error() }

func (e *UnderlayError) Unwrap() error { return e.Err }

// forUnderlay runs fn and marks the errors it records as being about the
// underlay NIC name.
func (s *session) forUnderlay(name string, fn func()) {
	n := len(s.errs)
	fn()
	for i := n; i < len(s.errs); i++ {
		s.errs[i] = &UnderlayError{Interface: name, Err: s.errs[i]}
	}
}
