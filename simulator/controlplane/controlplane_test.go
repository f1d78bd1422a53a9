package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/perouter/perouter/operator/k8sassets"
)

func TestStartWithMissingBinariesTellsHowToBuild(t *testing.T) {
	empty := t.TempDir()
	_, err := Start(t.Context(), Options{AssetsDir: empty})
	if err == nil || !strings.Contains(err.Error(), "hack/build-k8s-assets.sh") {
		t.Errorf("Start() with empty assets dir: error %v, want one naming hack/build-k8s-assets.sh", err)
	}
}

func TestControlPlaneServesAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver (~5 s): not a -short test")
	}
	assets, err := k8sassets.Dir()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	logs := processLogs(t)

	began := time.Now()
	cp, err := Start(t.Context(), Options{AssetsDir: assets, KubeconfigPath: kubeconfig, Logs: logs})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("Stop (cleanup): %v", err)
		}
	})
	t.Logf("start to /readyz ok: %v", time.Since(began))

	// Go through the written file, not RESTConfig(): the simulator hands the
	// file to other processes.
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("loading kubeconfig %s: %v", kubeconfig, err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}

	version, err := client.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version: %v", err)
	}
	if version.GitVersion != k8sassets.KubernetesVersion {
		t.Errorf("server reports %s, want %s (ldflags of hack/build-k8s-assets.sh)", version.GitVersion, k8sassets.KubernetesVersion)
	}

	// A kubeconfig for clients that reach the server under another address
	// (a VM's forward) still verifies the loopback certificate.
	via := filepath.Join(t.TempDir(), "via")
	server := "https://localhost:" + cp.APIServerURL().Port()
	if err := cp.WriteKubeconfigVia(server, via); err != nil {
		t.Fatal(err)
	}
	viaConfig, err := clientcmd.BuildConfigFromFlags("", via)
	if err != nil {
		t.Fatal(err)
	}
	if viaConfig.Host != server || viaConfig.ServerName != "127.0.0.1" {
		t.Errorf("kubeconfig via %s: host %q, TLS server name %q; want the new host and the loopback name", server, viaConfig.Host, viaConfig.ServerName)
	}
	if _, err := kubernetes.NewForConfigOrDie(viaConfig).Discovery().ServerVersion(); err != nil {
		t.Errorf("server version through %s: %v", server, err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const namespace = "controlplane-test"
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Namespace %s: %v", namespace, err)
	}
	wantData := map[string]string{"frr.conf": "router bgp 64514\n"}
	if _, err := client.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: namespace},
		Data:       wantData,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating ConfigMap %s/settings: %v", namespace, err)
	}

	gotNamespace, err := client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading Namespace %s: %v", namespace, err)
	}
	if gotNamespace.Status.Phase != corev1.NamespaceActive {
		t.Errorf("Namespace %s phase = %q, want %q", namespace, gotNamespace.Status.Phase, corev1.NamespaceActive)
	}
	gotConfigMap, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading ConfigMap %s/settings: %v", namespace, err)
	}
	if diff := cmp.Diff(wantData, gotConfigMap.Data); diff != "" {
		t.Errorf("ConfigMap %s/settings data (-want +got):\n%s", namespace, diff)
	}

	// kubectl is part of the assets because the simulator and humans use it.
	out, err := exec.CommandContext(ctx, cp.KubectlPath(), "--kubeconfig", kubeconfig,
		"get", "configmap", "settings", "-n", namespace, "-o", "jsonpath={.data.frr\\.conf}").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get configmap %s/settings: %v\n%s", namespace, err, out)
	}
	if diff := cmp.Diff(wantData["frr.conf"], string(out)); diff != "" {
		t.Errorf("kubectl get configmap %s/settings .data.frr.conf (-want +got):\n%s", namespace, diff)
	}

	addresses := cp.Addresses()
	if len(addresses) != 2 {
		t.Fatalf("Addresses() = %v, want kube-apiserver and etcd", addresses)
	}
	for _, addr := range addresses {
		if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
			t.Errorf("listen address %s: want loopback 127.0.0.1", addr)
		}
		assertListening(t, addr)
	}
	stateDir := cp.StateDir()

	began = time.Now()
	if err := cp.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("stop: %v", time.Since(began))

	for _, addr := range addresses {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			t.Errorf("%s still accepts connections after Stop", addr)
		} else if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dialing %s after Stop: %v, want connection refused", addr, err)
		}
	}
	for _, path := range []string{stateDir, kubeconfig} {
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after Stop (stat: %v)", path, err)
		}
	}
}

func assertListening(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("control plane address %s not listening while running: %v", addr, err)
	}
	conn.Close()
}

// processLogs collects etcd and kube-apiserver output in a file (a file, so
// the children write to it directly and nothing writes after the test ends)
// and prints its tail if the test failed.
func processLogs(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "controlplane.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer f.Close()
		if !t.Failed() {
			return
		}
		out, err := os.ReadFile(f.Name())
		if err != nil {
			t.Logf("reading control plane log: %v", err)
			return
		}
		lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
		lines = lines[max(0, len(lines)-80):]
		t.Logf("last %d lines of etcd + kube-apiserver output:\n%s", len(lines), strings.Join(lines, "\n"))
	})
	return f
}

// TestServingIPsAreInTheCertificate starts the API server with an extra
// serving IP (a Service ClusterIP) and checks that its certificate names
// it, that the admin kubeconfig still trusts the server, and that a
// service-account token it issues (TokenRequest, as the kubelet asks for
// one per pod) authenticates: the certificate and the signing key are
// written by this package, not envtest.
func TestServingIPsAreInTheCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd and kube-apiserver (~5 s): not a -short test")
	}
	assets, err := k8sassets.Dir()
	if err != nil {
		t.Fatal(err)
	}
	serviceIP := net.ParseIP("10.96.0.1")
	cp, err := Start(t.Context(), Options{AssetsDir: assets, Logs: processLogs(t), ServingIPs: []net.IP{serviceIP},
		APIServerFlags: map[string]string{"service-cluster-ip-range": "10.96.0.0/16"}})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = cp.Stop() })

	conn, err := tls.Dial("tcp", cp.APIServerURL().Host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	_ = conn.Close()
	if err := leaf.VerifyHostname(serviceIP.String()); err != nil {
		t.Errorf("serving certificate: %v (IPs %v)", err, leaf.IPAddresses)
	}
	if err := leaf.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("serving certificate: %v (IPs %v)", err, leaf.IPAddresses)
	}

	client := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	ctx := t.Context()
	svc, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the admin kubeconfig does not reach the server: %v", err)
	}
	if svc.Spec.ClusterIP != serviceIP.String() {
		t.Errorf("kubernetes Service ClusterIP %s, want %s", svc.Spec.ClusterIP, serviceIP)
	}
	sa, err := client.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "probe"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token, err := client.CoreV1().ServiceAccounts("default").CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest: %v", err)
	}
	asSA := rest.AnonymousClientConfig(cp.RESTConfig())
	asSA.BearerToken = token.Status.Token
	review, err := kubernetes.NewForConfigOrDie(asSA).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the service-account token does not authenticate: %v", err)
	}
	if got, want := review.Status.UserInfo.Username, "system:serviceaccount:default:probe"; got != want {
		t.Errorf("token authenticates as %q, want %q", got, want)
	}
}
