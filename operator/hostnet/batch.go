package hostnet

import (
	"fmt"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// batchSize bounds how many requests share one sendmsg. The kernel
// handles the messages of one sendmsg in order and queues one ack each
// before the call returns, so the acks of a batch must fit the socket's
// receive buffer (~200 KiB by default; an ack is well under 1 KiB).
const batchSize = 64

// sendBatch sends requests over sock, batchSize per sendmsg, and returns
// each request's result. Each round trip costs a few microseconds of
// syscall and decoding; for thousands of links (bringing 2,500 devices up)
// that adds up to more than the kernel's own work for some requests.
// Every request must carry NLM_F_ACK.
func sendBatch(sock *nl.NetlinkSocket, reqs []*nl.NetlinkRequest) []error {
	errs := make([]error, len(reqs))
	pid, err := sock.GetPid()
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for start := 0; start < len(reqs); start += batchSize {
		end := min(start+batchSize, len(reqs))
		pending := make(map[uint32]int, end-start)
		var buf []byte
		for i := start; i < end; i++ {
			buf = append(buf, reqs[i].Serialize()...)
			pending[reqs[i].Seq] = i
		}
		if err := unix.Sendto(sock.GetFd(), buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			for _, i := range pending {
				errs[i] = err
			}
			continue
		}
		for len(pending) > 0 {
			msgs, from, err := sock.Receive()
			if err != nil {
				for _, i := range pending {
					errs[i] = fmt.Errorf("waiting for the kernel's answer: %w", err)
				}
				break
			}
			if from.Pid != nl.PidKernel {
				continue
			}
			for _, m := range msgs {
				i, ok := pending[m.Header.Seq]
				if !ok || m.Header.Pid != pid || m.Header.Type != unix.NLMSG_ERROR {
					continue
				}
				delete(pending, m.Header.Seq)
				if len(m.Data) < 4 {
					errs[i] = fmt.Errorf("short netlink ack")
					continue
				}
				if errno := int32(nl.NativeEndian().Uint32(m.Data[0:4])); errno != 0 {
					errs[i] = syscall.Errno(-errno)
				}
			}
		}
	}
	return errs
}

// setUpRequest is what the library's LinkSetUp sends.
func setUpRequest(index int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Change = unix.IFF_UP
	msg.Flags = unix.IFF_UP
	msg.Index = int32(index)
	req.AddData(msg)
	return req
}
