package pods

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/perouter/perouter/operator/retry"
	"github.com/perouter/perouter/simulator/kubenode"
	"github.com/perouter/perouter/simulator/netns"
	"github.com/perouter/perouter/simulator/topology"
)

// What a user does to the running operator, done the way a user does it:
// through the API server (kubectl), the kubelet and containerd. The e2e
// suites' pods provider calls these; every call says which pod it acted
// on when it fails.

// Component is a pod kind of the chart, by its app.kubernetes.io/component
// label.
type Component string

const (
	Router     Component = "router"
	Controller Component = "controller"
	Labeler    Component = "labeler"
)

// The router pod's containers (charts/perouter/templates/router.yaml).
const (
	FRRContainer      = "frr"
	ReloaderContainer = "reloader"
)

// RouterNetns is the router namespace's name on every node (the chart's
// routerNetns default).
const RouterNetns = "perouter"

// podTimeout bounds the wait for a replaced pod to be Ready; the chart's
// labeler needs the longest (its webhook Secret mount, ~60 s measured).
const podTimeout = 5 * time.Minute

// Pods lists the component's pods; on one node unless node is "".
func (a *Agents) Pods(ctx context.Context, c Component, node string) ([]corev1.Pod, error) {
	opts := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(labels.Set{"app.kubernetes.io/component": string(c)}).String()}
	if node != "" {
		opts.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", node).String()
	}
	list, err := a.kube().CoreV1().Pods(ChartNamespace()).List(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("listing %s pods on node %q: %w", c, node, err)
	}
	return list.Items, nil
}

// Pod is the component's one Running pod on a node.
func (a *Agents) Pod(ctx context.Context, c Component, node string) (*corev1.Pod, error) {
	pods, err := a.Pods(ctx, c, node)
	if err != nil {
		return nil, err
	}
	var running []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			running = append(running, p)
		}
	}
	if len(running) != 1 {
		return nil, fmt.Errorf("node %s: %d running %s pods, want 1", node, len(running), c)
	}
	return &running[0], nil
}

func (a *Agents) kube() kubernetes.Interface {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.client
}

// DeletePod deletes the component's pods (on one node unless node is "")
// as `kubectl delete pod` does, and waits until the chart is Ready again
// with other pods in their place.
func (a *Agents) DeletePod(ctx context.Context, l *netns.Lab, c Component, node string) error {
	pods, err := a.Pods(ctx, c, node)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return fmt.Errorf("node %q: no %s pod to delete", node, c)
	}
	old := map[string]bool{}
	for _, p := range pods {
		old[string(p.UID)] = true
		if err := a.kube().CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("deleting pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		logf(l, "deleted pod %s/%s (node %s)", p.Namespace, p.Name, p.Spec.NodeName)
	}
	var last string
	err = retry.Poll(ctx, podTimeout, retry.Every(500*time.Millisecond), func() (bool, error) {
		now, err := a.Pods(ctx, c, node)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := 0
		for _, p := range now {
			if old[string(p.UID)] {
				last = fmt.Sprintf("pod %s still there (%s)", p.Name, p.Status.Phase)
				return false, nil
			}
			if PodReady(&p) {
				ready++
			}
		}
		if ready != len(pods) {
			last = fmt.Sprintf("%d of %d new %s pods Ready", ready, len(pods), c)
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("node %q: %s pods not replaced: %s: %w", node, c, last, err)
	}
	return a.WaitReady(ctx, l)
}

// PodReady: Running, not being deleted, and its Ready condition true.
func PodReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// KillContainer SIGKILLs a container of the component's pod on a node
// through the node's containerd, as the kernel's OOM killer or a crash
// would end it: the pod stays, the kubelet restarts the container.
func (a *Agents) KillContainer(ctx context.Context, c Component, node, container string) error {
	pod, err := a.Pod(ctx, c, node)
	if err != nil {
		return err
	}
	kn, id, err := a.container(pod, container)
	if err != nil {
		return err
	}
	return kn.KillContainer(ctx, id)
}

// ContainerPID is the host process id of a running container of a pod:
// /proc/<pid> shows what the runtime gave it.
func (a *Agents) ContainerPID(ctx context.Context, pod *corev1.Pod, container string) (int, error) {
	kn, id, err := a.container(pod, container)
	if err != nil {
		return 0, err
	}
	return kn.ContainerPID(ctx, id)
}

// container finds a container of a pod: its node's runtime and the
// container's ID in it.
func (a *Agents) container(pod *corev1.Pod, container string) (*kubenode.Node, string, error) {
	kn := a.Node(pod.Spec.NodeName)
	if kn == nil {
		return nil, "", fmt.Errorf("pod %s: node %s runs no kubelet", pod.Name, pod.Spec.NodeName)
	}
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name != container {
			continue
		}
		id, ok := strings.CutPrefix(s.ContainerID, "containerd://")
		if !ok {
			return nil, "", fmt.Errorf("pod %s container %s: container ID %q is not containerd's", pod.Name, container, s.ContainerID)
		}
		return kn, id, nil
	}
	return nil, "", fmt.Errorf("pod %s has no container %s", pod.Name, container)
}

// ExecPod runs a command in a container of the component's pod on a node
// with `kubectl exec`.
func (a *Agents) ExecPod(ctx context.Context, l *netns.Lab, c Component, node, container string, cmd ...string) (string, error) {
	pod, err := a.Pod(ctx, c, node)
	if err != nil {
		return "", err
	}
	out, err := a.Kubectl(ctx, l, "", append([]string{"exec", "-n", pod.Namespace, pod.Name, "-c", container, "--"}, cmd...)...)
	if err != nil {
		return out, fmt.Errorf("kubectl exec %s -c %s -- %s: %w: %s", pod.Name, container, strings.Join(cmd, " "), err, strings.TrimSpace(out))
	}
	return out, nil
}

// Vtysh runs vtysh commands in the node's router pod's frr container.
func (a *Agents) Vtysh(ctx context.Context, l *netns.Lab, node string, commands ...string) (string, error) {
	args := []string{"vtysh"}
	for _, c := range commands {
		args = append(args, "-c", c)
	}
	return a.ExecPod(ctx, l, Router, node, FRRContainer, args...)
}

// InNode runs a command on a node as its pods' hostPath volumes see it:
// in its network namespace and its own mount namespace, where
// /run/netns/perouter is the router pod's.
func (a *Agents) InNode(ctx context.Context, l *netns.Lab, node string, cmd ...string) (string, error) {
	kn := a.Node(node)
	if kn == nil {
		return "", fmt.Errorf("node %s: no kubelet running", node)
	}
	enter := []string{"--net=/run/netns/" + l.Namespace(node)}
	if mnt := kn.MountNamespace(); mnt != "" {
		enter = append(enter, "--mount="+mnt, "--root="+kn.MountRoot(), "--wd="+kn.MountRoot())
	}
	out, err := exec.CommandContext(ctx, "nsenter", append(append(enter, "--"), cmd...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("node %s: %s: %w: %s", node, strings.Join(cmd, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// ExecRouter runs a command in a node's router namespace.
func (a *Agents) ExecRouter(ctx context.Context, l *netns.Lab, node string, cmd ...string) (string, error) {
	return a.InNode(ctx, l, node, append([]string{"ip", "netns", "exec", RouterNetns}, cmd...)...)
}

// DeleteRouterNamespace deletes a node's router namespace under the
// running pods and kills the router pod's FRR, whose daemons lived in it;
// the kubelet restarts FRR into a fresh namespace (router-start or the
// controller makes it). A real NIC in a deleted namespace returns to the
// host when the kernel destroys it; the lab's NICs are veths, which would
// die instead, so they are handed back to the node's namespace here, as
// the process mode does (cluster.Agents.RestartRouter): after the name is
// taken away, or the controller would move them straight in again.
func (a *Agents) DeleteRouterNamespace(ctx context.Context, l *netns.Lab, node string) error {
	dying := RouterNetns + "-dying"
	var script strings.Builder
	fmt.Fprintf(&script, "set -e\ncd /run/netns\nip netns delete %[2]s 2>/dev/null || true\n"+
		"touch %[2]s\nmount --bind %[1]s %[2]s\numount --lazy %[1]s\nrm -f %[1]s\n", RouterNetns, dying)
	for _, link := range l.Topo.LinksOf(node) {
		for _, ep := range []topology.Endpoint{link.A, link.B} {
			if ep.Node == node {
				// Only the NICs the namespace holds (an interface the
				// Underlay does not name stays on the host); one it holds
				// and cannot hand back fails the step (set -e), since the
				// node would lose it. $$ is this shell, in the node's
				// network namespace.
				fmt.Fprintf(&script, "if ip -n %[1]s link show %[2]s >/dev/null 2>&1; then ip -n %[1]s link set %[2]s netns $$; fi\n", dying, ep.Interface)
			}
		}
	}
	fmt.Fprintf(&script, "ip netns delete %s\n", dying)
	if out, err := a.InNode(ctx, l, node, "sh", "-c", script.String()); err != nil {
		return fmt.Errorf("node %s: deleting the router namespace: %w: %s", node, err, out)
	}
	logf(l, "node %s: router namespace deleted", node)
	return a.KillContainer(ctx, Router, node, FRRContainer)
}

// PodLogs are the last lines of every container's log of the chart's pods
// on a node, for evidence.
func (a *Agents) PodLogs(ctx context.Context, l *netns.Lab, node string, lines int) string {
	var b strings.Builder
	for _, c := range []Component{Router, Controller, Labeler} {
		pods, err := a.Pods(ctx, c, node)
		if err != nil {
			fmt.Fprintf(&b, "%v\n", err)
			continue
		}
		for _, p := range pods {
			for _, ct := range p.Spec.Containers {
				out, _ := a.Kubectl(ctx, l, "", "logs", "-n", p.Namespace, p.Name, "-c", ct.Name, fmt.Sprintf("--tail=%d", lines))
				fmt.Fprintf(&b, "==> pod %s container %s <==\n%s\n", p.Name, ct.Name, out)
			}
		}
	}
	return b.String()
}
