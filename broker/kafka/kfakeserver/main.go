// Command kfakeserver runs franz-go's kfake cluster in a process of its own,
// so that benchmarks measure mqcheck out of process, as users run it against
// a broker, and tests restart a broker mqcheck did not start. See package
// internal/kfakeserver for its flags.
//
//	kfakeserver -brokers 3 -data-dir /tmp/kfake
package main

import (
	"os"

	"github.com/mqcheck/mqcheck/internal/kfakeserver"
)

func main() {
	os.Exit(kfakeserver.Main(os.Args[1:], os.Stdout, os.Stderr))
}
