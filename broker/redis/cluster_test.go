package redis_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqcheck/mqcheck/broker"
	"github.com/mqcheck/mqcheck/broker/redis"
)

// fakeCluster is a one-node "cluster" speaking just enough RESP: it owns
// every slot, and drops the connection instead of answering the first XADD
// it executed (a reply lost on the way, as when a server or link dies).
type fakeCluster struct {
	ln    net.Listener
	xadds atomic.Int64
}

func (f *fakeCluster) serve(t *testing.T) {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.conn(c)
	}
}

func readCmd(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		if line, err = r.ReadString('\n'); err != nil {
			return nil, err
		}
		l, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		b := make([]byte, l+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:l])
	}
	return args, nil
}

func (f *fakeCluster) conn(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	port := f.ln.Addr().(*net.TCPAddr).Port
	for {
		args, err := readCmd(r)
		if err != nil {
			return
		}
		var reply string
		switch cmd := strings.ToUpper(args[0]); {
		case cmd == "HELLO":
			reply = "-ERR unknown command 'HELLO'\r\n"
		case cmd == "CLUSTER":
			reply = fmt.Sprintf("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n", port)
		case cmd == "PING":
			reply = "+PONG\r\n"
		case cmd == "XADD":
			n := f.xadds.Add(1)
			if n == 1 {
				return // stored, the answer lost
			}
			id := fmt.Sprintf("1-%d", n)
			reply = fmt.Sprintf("$%d\r\n%s\r\n", len(id), id)
		default:
			reply = "+OK\r\n"
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}

// TestClusterXAddNotResent (review, defect): with cluster: true the
// producers' ClusterClient keeps go-redis's default MaxRedirects (3), and
// go-redis's cluster pipeline re-sends commands whose reply was lost (EOF,
// timeout) on a fresh connection. An XADD the server executed and whose
// answer was lost is then stored twice and reported Acked: a duplicate the
// tool made, blamed on Redis, and an outcome the broker never gave for the
// first copy. Want: the XADD sent once, its outcome indeterminate.
func TestClusterXAddNotResent(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f := &fakeCluster{ln: ln}
	go f.serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := &redis.Config{Cluster: true}
	tgt, err := redis.Open(ctx, cfg, broker.Spec{Target: broker.TargetURL, URL: "redis://" + ln.Addr().String(), Destination: "review-cluster"},
		broker.Env{RunID: "review", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer tgt.Close(ctx)
	type done struct {
		o   broker.Outcome
		err error
	}
	got := make(chan done, 1)
	p, err := tgt.Driver.NewProducer(ctx, broker.ProducerOptions{OnComplete: func(_ *broker.Message, o broker.Outcome, err error) { got <- done{o, err} }})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Publish(ctx, &broker.Message{Payload: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if n := f.xadds.Load(); n != 1 || d.o == broker.Acked {
			t.Errorf("XADD sent %d times, outcome %v (%v): want it sent once and indeterminate (its answer was lost)", n, d.o, d.err)
		}
	case <-ctx.Done():
		t.Fatal("no outcome")
	}
}
