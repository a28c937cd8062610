// Command kfakeserver runs franz-go's kfake cluster in a process of its own,
// so that benchmarks measure mqcheck out of process, as users run it against
// a broker. It prints the brokers' addresses, comma-separated, on one line
// and runs until SIGINT or SIGTERM.
//
//	kfakeserver -brokers 3 -data-dir /tmp/kfake
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	brokers := flag.Int("brokers", 3, "brokers in the cluster, on free ports of 127.0.0.1")
	dir := flag.String("data-dir", "", "persist the cluster here (default: in memory)")
	flag.Parse()
	if err := run(*brokers, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "kfakeserver:", err)
		os.Exit(1)
	}
}

func run(brokers int, dir string) error {
	if brokers < 1 {
		return fmt.Errorf("-brokers %d: at least 1", brokers)
	}
	opts := []kfake.Opt{kfake.NumBrokers(brokers)}
	if dir != "" {
		opts = append(opts, kfake.DataDir(dir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("starting the cluster: %w", err)
	}
	defer c.Close()
	fmt.Println(strings.Join(c.ListenAddrs(), ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return nil
}
