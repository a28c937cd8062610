package chaos

import (
	"os"
	"testing"

	"github.com/rs/zerolog"
	zlog "github.com/rs/zerolog/log"
)

// TestMain sets the process up as mqcheck's main does: toxiproxy knows
// mqcheck's toxics, and its trace lines stay off stderr.
func TestMain(m *testing.M) {
	RegisterToxics()
	zlog.Logger = zerolog.Nop()
	os.Exit(m.Run())
}
