package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// pinger is `ping -D` running in a node's namespace, 5 pings a second,
// until stopped: the one recorder of the specs that measure how much
// traffic a fault or a move costs. Each reply carries its arrival time,
// so a spec can count the lost pings (stop, then pingCounts) and find the
// longest gap (replies, maxReplyGap).
type pinger struct {
	file string
	stop func() string
}

// startPing starts pinging addr from node. stop sends SIGINT, so that
// ping prints its statistics, and returns ping's output. A spec that fails
// before stopping it leaves no ping behind.
func startPing(ctx context.Context, node, addr string) *pinger {
	file := fmt.Sprintf("/tmp/perouter-e2e-ping-%s-%d.txt", node, time.Now().UnixNano())
	pid, err := env.Exec(ctx, node, "sh", "-c", fmt.Sprintf("ping -D -i 0.2 -W 1 %s >%s 2>&1 </dev/null & echo $!", addr, file))
	Expect(err).NotTo(HaveOccurred(), pid)
	pid = strings.TrimSpace(pid)
	DeferCleanup(func(ctx context.Context) { _, _ = env.Exec(ctx, node, "kill", pid); _ = os.Remove(file) })
	return &pinger{file: file, stop: func() string {
		GinkgoHelper()
		_, err := env.Exec(ctx, node, "kill", "-INT", pid)
		Expect(err).NotTo(HaveOccurred())
		var text string
		Eventually(func() (string, error) {
			data, err := os.ReadFile(file)
			text = string(data)
			return text, err
		}).WithTimeout(10 * time.Second).WithPolling(200 * time.Millisecond).Should(ContainSubstring("packets transmitted"))
		return text
	}}
}

var timedReply = regexp.MustCompile(`(?m)^\[(\d+\.\d+)\] \d+ bytes from `)

// replies are the arrival times of the replies so far, in seconds since
// the epoch, in order.
func (p *pinger) replies() []float64 {
	data, _ := os.ReadFile(p.file)
	var ts []float64
	for _, m := range timedReply.FindAllStringSubmatch(string(data), -1) {
		if t, err := strconv.ParseFloat(m[1], 64); err == nil {
			ts = append(ts, t)
		}
	}
	return ts
}

func (p *pinger) repliesAfter(t time.Time) []float64 {
	var out []float64
	for _, r := range p.replies() {
		if r > float64(t.UnixNano())/1e9 {
			out = append(out, r)
		}
	}
	return out
}

// maxReplyGap is the longest time between two consecutive replies.
func maxReplyGap(ts []float64) time.Duration {
	var gap float64
	for i := 1; i < len(ts); i++ {
		gap = max(gap, ts[i]-ts[i-1])
	}
	return time.Duration(gap * float64(time.Second))
}

var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)

// pingCounts reads ping's summary line.
func pingCounts(out string) (sent, received int) {
	m := pingStats.FindStringSubmatch(out)
	if m == nil {
		return 0, 0
	}
	sent, _ = strconv.Atoi(m[1])
	received, _ = strconv.Atoi(m[2])
	return sent, received
}
