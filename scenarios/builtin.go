package scenarios

import (
	"embed"
	"io/fs"
	"path"
	"strings"

	"github.com/goccy/go-yaml"
)

// The built-in library: one scenario per file, named by the file.
//
//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtin is one scenario of the built-in library.
type Builtin struct {
	// Name is what `mqcheck run NAME` takes: the file name without .yaml.
	Name string
	// Description is the scenario's one-line description.
	Description string
	// YAML is the scenario text, as shipped.
	YAML []byte
}

// Builtins lists the built-in scenarios, sorted by name.
func Builtins() []Builtin {
	// Glob over an embed.FS fails only for a malformed pattern, and
	// returns names in lexical order.
	files, _ := fs.Glob(builtinFS, "builtin/*.yaml")
	out := make([]Builtin, 0, len(files))
	for _, f := range files {
		data, err := builtinFS.ReadFile(f)
		if err != nil {
			continue
		}
		// Lenient on purpose: the listing should not depend on the whole
		// file being valid; loading it is strict, and tests load them all.
		var head struct {
			Description string `yaml:"description"`
		}
		_ = yaml.Unmarshal(data, &head)
		out = append(out, Builtin{
			Name:        strings.TrimSuffix(path.Base(f), ".yaml"),
			Description: strings.TrimSpace(head.Description),
			YAML:        data,
		})
	}
	return out
}
