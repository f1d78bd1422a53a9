package images

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Dockerfile renders a recipe as a Dockerfile, for those who build with a
// container engine. goVersion is go.mod's language version ("1.26"): the
// build stage's golang image. Its steps are the Builder's, in the same
// order: the base, AptInstallScript, the static Go binaries, the files,
// the configuration.
func Dockerfile(r Recipe, goVersion string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Generated from images.Recipes() (images/recipe.go) by")
	p("#   go run ./cmd/imagebuild -write-dockerfiles")
	p("# Do not edit: `make images` builds the same image without a container")
	p("# engine, and images.TestDockerfilesMatchRecipes keeps this file equal")
	p("# to the recipe. See docs/images.md.")
	p("#")
	p("#   docker build -f %s -t %s:dev .", r.Dockerfile, r.Repository)
	if len(r.GoBinaries) > 0 {
		p("FROM golang:%s-%s AS build", goVersion, goBuildSuite)
		p("WORKDIR /src")
		p("COPY go.mod go.sum ./")
		p("RUN go mod download")
		p("COPY . .")
		p("RUN %s go build %s -o /out/ %s", strings.Join(GoBuildEnv, " "), shellJoin(GoBuildFlags), strings.Join(r.GoBinaries, " "))
		p("")
	}
	p("FROM %s", r.BaseReference())
	if len(r.Packages) > 0 {
		p("RUN %s", AptInstallScript(r.Packages))
	}
	for _, pkg := range r.GoBinaries {
		dest := BinaryDest(pkg)
		p("COPY --from=build /out/%s %s", dest[strings.LastIndex(dest, "/")+1:], dest)
	}
	for _, f := range r.Files {
		p("COPY --chmod=%o %s %s", f.Mode, f.Source, f.Dest)
	}
	p("ARG VERSION=dev")
	labels := r.Labels("$VERSION")
	for _, k := range sortedKeys(labels) {
		p("LABEL %s=%s", k, strconv.Quote(labels[k]))
	}
	p("USER %s", r.User)
	p("ENTRYPOINT %s", jsonArray(r.Entrypoint))
	return b.String()
}

// shellJoin quotes the arguments that need it for a POSIX shell.
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \t\"'$\\") {
			a = strconv.Quote(a)
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

func jsonArray(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(out, ", ") + "]"
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// GoVersion is the language version of the module at repoRoot ("1.26"
// for `go 1.26.0`): the Dockerfiles' build stage image.
func GoVersion(repoRoot string) (string, error) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			parts := strings.SplitN(v, ".", 3)
			if len(parts) < 2 {
				return "", fmt.Errorf("go.mod: go directive %q has no minor version", v)
			}
			return parts[0] + "." + parts[1], nil
		}
	}
	return "", fmt.Errorf("%s/go.mod has no go directive", repoRoot)
}

// WriteDockerfiles renders every recipe's Dockerfile into repoRoot.
func WriteDockerfiles(repoRoot string) error {
	goVersion, err := GoVersion(repoRoot)
	if err != nil {
		return err
	}
	for _, r := range Recipes() {
		if err := os.WriteFile(filepath.Join(repoRoot, r.Dockerfile), []byte(Dockerfile(r, goVersion)), 0o644); err != nil {
			return err
		}
	}
	return nil
}
