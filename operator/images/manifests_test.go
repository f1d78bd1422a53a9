package images

import (
	"archive/tar"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// container is a container of the install manifests, with the program it
// runs and the programs its exec probes run.
type container struct {
	source   string // manifest and container name, for messages
	image    string // repository, without tag
	programs []string
}

// manifestContainers reads every pod template of the chart (rendered with
// its defaults) and of the kustomize manifests.
func manifestContainers(t *testing.T) []container {
	t.Helper()
	root := repoRoot(t)
	docs := map[string]string{}
	chart, err := loader.Load(filepath.Join(root, "charts", "perouter"))
	if err != nil {
		t.Fatalf("loading chart: %v", err)
	}
	vals, err := chartutil.ToRenderValues(chart, nil, chartutil.ReleaseOptions{Name: "perouter", Namespace: "perouter-system", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := engine.Render(chart, vals)
	if err != nil {
		t.Fatalf("rendering chart: %v", err)
	}
	for name, text := range rendered {
		docs["chart "+name] = text
	}
	kustomize, err := filepath.Glob(filepath.Join(root, "operator/config/*/*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range kustomize {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		docs["kustomize "+rel] = string(data)
	}
	var out []container
	for source, text := range docs {
		for _, doc := range strings.Split(text, "\n---") {
			var w struct {
				Kind string `json:"kind"`
				Spec struct {
					Template struct {
						Spec corev1.PodSpec `json:"spec"`
					} `json:"template"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal([]byte(doc), &w); err != nil {
				continue // not a Kubernetes object (comments, templates)
			}
			if w.Kind != "DaemonSet" && w.Kind != "Deployment" {
				continue
			}
			pod := w.Spec.Template.Spec
			for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
				ct := container{source: source + " container " + c.Name, image: c.Image}
				if i := strings.LastIndex(ct.image, ":"); i > strings.LastIndex(ct.image, "/") {
					ct.image = ct.image[:i]
				}
				if len(c.Command) > 0 {
					ct.programs = append(ct.programs, c.Command[0])
				}
				for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
					if p != nil && p.Exec != nil && len(p.Exec.Command) > 0 {
						ct.programs = append(ct.programs, p.Exec.Command[0])
					}
				}
				out = append(out, ct)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].source < out[j].source })
	if len(out) < 5 {
		t.Fatalf("found %d containers in the chart and kustomize manifests, want at least 5 (controller, labeler, frr-config, frr, reloader)", len(out))
	}
	return out
}

func recipeOfImage(image string) (Recipe, bool) {
	for _, r := range Recipes() {
		if r.Repository == image {
			return r, true
		}
	}
	return Recipe{}, false
}

// Every container of the install manifests runs one of the images, and
// each program the manifests name under BinDir is one its recipe installs.
func TestManifestsRunRecipeFiles(t *testing.T) {
	for _, c := range manifestContainers(t) {
		t.Run(c.source, func(t *testing.T) {
			r, ok := recipeOfImage(c.image)
			if !ok {
				t.Fatalf("image %q is no recipe's repository", c.image)
			}
			installs := map[string]bool{}
			for _, pkg := range r.GoBinaries {
				installs[BinaryDest(pkg)] = true
			}
			for _, f := range r.Files {
				installs[f.Dest] = true
			}
			for _, p := range c.programs {
				if strings.HasPrefix(p, BinDir+"/") && !installs[p] {
					t.Errorf("runs %s, which recipe %s does not install", p, r.Name)
				}
			}
		})
	}
}

// runtimeNeeds are what the images' programs run beyond the manifests'
// commands: router-start's interpreter, ip and watchfrr; the daemons the
// chart's daemons file enables; the reloader's frr-reload.py and vtysh;
// the controller's vtysh and ip.
var runtimeNeeds = map[string][]string{
	"router": {
		"/bin/sh", "/bin/bash", "ip", "cp", "chown",
		"/usr/lib/frr/frrcommon.sh", "/usr/lib/frr/watchfrr", "/usr/lib/frr/watchfrr.sh",
		"/usr/lib/frr/zebra", "/usr/lib/frr/mgmtd", "/usr/lib/frr/bgpd", "/usr/lib/frr/staticd", "/usr/lib/frr/bfdd",
		"/usr/lib/frr/frr-reload.py", "/usr/bin/vtysh",
	},
	"perouter": {"/usr/bin/vtysh", "ip"},
}

// The archives `make images` wrote (PEROUTER_IMAGES_DIR, e.g. bin/images)
// hold what the manifests run: each container's program and exec probe,
// executable, and what those programs run in turn; the entrypoint is the
// recipe's; the chart's frr-config init container can chown to user frr.
func TestBuiltImagesRunTheManifests(t *testing.T) {
	dir := os.Getenv("PEROUTER_IMAGES_DIR")
	if dir == "" {
		t.Skip("PEROUTER_IMAGES_DIR is unset: run `make images` and set it to bin/images")
	}
	filesOf := map[string]map[string]entry{}
	pathOf := map[string][]string{}
	for _, r := range Recipes() {
		img, err := ReadArchive(filepath.Join(dir, r.Name+".tar"), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cf.Config.Entrypoint, r.Entrypoint) {
			t.Errorf("%s: entrypoint %v, want %v", r.Name, cf.Config.Entrypoint, r.Entrypoint)
		}
		filesOf[r.Name] = fsOf(t, img)
		for _, e := range cf.Config.Env {
			if p, ok := strings.CutPrefix(e, "PATH="); ok {
				pathOf[r.Name] = strings.Split(p, ":")
			}
		}
		for _, p := range runtimeNeeds[r.Name] {
			if _, err := executable(filesOf[r.Name], p, pathOf[r.Name]); err != nil {
				t.Errorf("%s: %v", r.Name, err)
			}
		}
	}
	for _, c := range manifestContainers(t) {
		r, ok := recipeOfImage(c.image)
		if !ok {
			t.Errorf("%s: image %q is no recipe's repository", c.source, c.image)
			continue
		}
		for _, p := range c.programs {
			if _, err := executable(filesOf[r.Name], p, pathOf[r.Name]); err != nil {
				t.Errorf("%s: %v", c.source, err)
			}
		}
	}
	if !strings.Contains(filesOf["router"]["/etc/passwd"].content, "\nfrr:") {
		t.Errorf("router: /etc/passwd has no user frr (the frr-config init container chowns to frr:frr)")
	}
	// frr-reload.py's interpreter.
	reload, err := executable(filesOf["router"], "/usr/lib/frr/frr-reload.py", nil)
	if err == nil {
		line, _, _ := strings.Cut(filesOf["router"][reload].content, "\n")
		interp := strings.Fields(strings.TrimPrefix(line, "#!"))
		if len(interp) == 0 {
			t.Errorf("router: frr-reload.py has no #! line")
		} else {
			prog := interp[0]
			if path.Base(prog) == "env" && len(interp) > 1 {
				prog = interp[1]
			}
			if _, err := executable(filesOf["router"], prog, pathOf["router"]); err != nil {
				t.Errorf("router: frr-reload.py's interpreter: %v", err)
			}
		}
	}
}

// executable resolves a program in an image's file system (through PATH
// when it has no slash, through symlinks, as the kernel would) and checks
// that it is an executable regular file. It returns the resolved path.
func executable(files map[string]entry, prog string, pathDirs []string) (string, error) {
	candidates := []string{prog}
	if !strings.Contains(prog, "/") {
		candidates = nil
		for _, d := range pathDirs {
			candidates = append(candidates, path.Join(d, prog))
		}
	}
	for _, c := range candidates {
		p, ok := resolve(files, c)
		if !ok {
			continue
		}
		e := files[p]
		if e.hdr.Typeflag != tar.TypeReg || e.hdr.Mode&0o111 == 0 {
			return p, &missingError{prog, "is not an executable file (resolved to " + p + ")"}
		}
		return p, nil
	}
	return "", &missingError{prog, "is not in the image (PATH " + strings.Join(pathDirs, ":") + ")"}
}

type missingError struct{ prog, why string }

func (e *missingError) Error() string { return e.prog + " " + e.why }

// resolve follows symlinks in every component of p.
func resolve(files map[string]entry, p string) (string, bool) {
	parts := strings.Split(strings.Trim(path.Clean(p), "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		next := path.Join(cur, parts[0])
		parts = parts[1:]
		e, ok := files[next]
		if !ok {
			return "", false
		}
		if e.hdr.Typeflag == tar.TypeSymlink {
			if hops++; hops > 40 {
				return "", false
			}
			target := e.hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(cur, target)
			}
			rest := strings.Split(strings.Trim(path.Clean(target), "/"), "/")
			parts = append(rest, parts...)
			cur = "/"
			continue
		}
		if e.hdr.Typeflag == tar.TypeLink {
			next = "/" + strings.TrimPrefix(path.Clean("/"+e.hdr.Linkname), "/")
		}
		cur = next
	}
	return cur, true
}
