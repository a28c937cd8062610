package main

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// instruction is one line of a Dockerfile as buildkit's parser reads it.
type instruction struct {
	cmd   string   // from, run, copy, ...
	args  []string // the words after it
	flags []string // --from=build, --platform=...
	json  bool     // exec form: ["a", "b"]
}

// stage is one FROM and what follows it.
type stage struct {
	image, name string
	ins         []instruction
}

func dockerStages(t *testing.T, path string) []stage {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var stages []stage
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags, json: n.Attributes["json"]}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		if in.cmd == "from" {
			s := stage{image: in.args[0]}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "as") {
				s.name = in.args[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "arg" {
				t.Fatalf("%s: %s before the first FROM", path, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	return stages
}

func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// TestDockerfile checks the image's recipe without a container engine
// (CI builds it for real once it has one): a build stage on the Go that
// go.mod asks for compiles a static binary of this command; the final
// stage is a minimal base holding only that binary, runs as a non-root
// user, and has mqcheck as its entrypoint.
func TestDockerfile(t *testing.T) {
	stages := dockerStages(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("%d stages: want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	goMod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goMinor := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(goMod)[1]
	if !regexp.MustCompile(`^golang:` + regexp.QuoteMeta(string(goMinor)) + `([.-]|$)`).MatchString(build.image) {
		t.Errorf("build stage on %s, want golang:%s (go.mod)", build.image, goMinor)
	}
	if build.name == "" {
		t.Fatalf("the build stage has no name for the final stage to copy from")
	}
	for _, c := range build.find("copy") {
		for _, src := range c.args[:len(c.args)-1] {
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("the build copies %s: %v", src, err)
			}
		}
	}
	var binary string
	for _, r := range build.find("run") {
		cmd := strings.Join(r.args, " ")
		if !strings.Contains(cmd, "go build") {
			continue
		}
		if !strings.Contains(cmd, "CGO_ENABLED=0") || !strings.Contains(cmd, "./cmd/mqcheck") {
			t.Errorf("the build is not a static build of ./cmd/mqcheck (CGO_ENABLED=0): %s", cmd)
		}
		if m := regexp.MustCompile(`-o (\S+)`).FindStringSubmatch(cmd); m != nil {
			binary = m[1]
		}
	}
	if binary == "" {
		t.Fatalf("no go build -o BINARY in the build stage")
	}

	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") && final.image != "scratch" {
		t.Errorf("final stage on %s: want distroless/static or scratch (a static binary needs nothing else)", final.image)
	}
	var installed string
	for _, c := range final.find("copy") {
		if !slices.Contains(c.flags, "--from="+build.name) || len(c.args) != 2 || c.args[0] != binary {
			t.Errorf("the final stage copies %v %v: want only the binary from the build stage", c.flags, c.args)
			continue
		}
		installed = c.args[1]
	}
	users := final.find("user")
	if len(users) == 0 {
		t.Errorf("the final stage runs as root: no USER")
	} else if u, _, _ := strings.Cut(users[len(users)-1].args[0], ":"); u == "root" || u == "0" {
		t.Errorf("the final stage runs as %s", users[len(users)-1].args[0])
	}
	ep := final.find("entrypoint")
	if len(ep) != 1 || !ep[0].json || len(ep[0].args) == 0 || ep[0].args[0] != installed {
		t.Errorf("entrypoint %+v: want the exec form [%q]", ep, installed)
	}
}

// TestDockerignore checks the build context keeps every file the build
// reads (the Go sources, go.mod, go.sum, what they embed) and leaves out
// run directories and the repository's history.
func TestDockerignore(t *testing.T) {
	f, err := os.Open(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	ignored := func(rel string) bool {
		m, err := pm.MatchesOrParentMatches(filepath.ToSlash(rel))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	for _, rel := range []string{".git", "runs/quickstart-20261128-161500/results.json", "bin/mqcheck"} {
		if !ignored(rel) {
			t.Errorf("%s is sent to the build", rel)
		}
	}
	needed := []string{"go.mod", "go.sum"}
	embed := regexp.MustCompile(`^//go:embed (.+)$`)
	err = filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, path)
		if d.IsDir() {
			if rel == ".git" || rel == "runs" || rel == "bin" || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		needed = append(needed, rel)
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		sc := bufio.NewScanner(src)
		for sc.Scan() {
			m := embed.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			for _, pat := range strings.Fields(m[1]) {
				files, err := filepath.Glob(filepath.Join(filepath.Dir(path), pat))
				if err != nil || len(files) == 0 {
					t.Errorf("%s embeds %s, which matches nothing", rel, pat)
				}
				for _, f := range files {
					r, _ := filepath.Rel(repoRoot, f)
					needed = append(needed, r)
				}
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(needed) < 20 {
		t.Fatalf("%d files needed: the walk found nothing", len(needed))
	}
	for _, rel := range needed {
		if ignored(rel) {
			t.Errorf(".dockerignore leaves out %s, which the build needs", rel)
		}
	}
}
