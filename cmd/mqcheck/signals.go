package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// interrupts turns SIGINT and SIGTERM into the documented stop:
//   - the first cancels the command's context: producers stop, the drain
//     is bounded, faults are healed, private brokers stopped, results
//     written, exit 3;
//   - the second closes abort: the drain and every wait end at once, and
//     results are still written with what was measured;
//   - after that the signals are no longer caught, so a third one ends the
//     process the default way (the last checkpoint stays on disk).
type interrupts struct {
	cancel context.CancelFunc
	abort  chan struct{}
	ch     chan os.Signal
	done   chan struct{}
	out    *switchWriter
	once   sync.Once
}

type interruptsKey struct{}

// notifyInterrupts starts catching signals; stop releases them.
func notifyInterrupts(parent context.Context, stderr io.Writer) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	in := &interrupts{cancel: cancel, abort: make(chan struct{}), ch: make(chan os.Signal, 2),
		done: make(chan struct{}), out: &switchWriter{w: stderr}}
	signal.Notify(in.ch, os.Interrupt, syscall.SIGTERM)
	go in.loop()
	return context.WithValue(ctx, interruptsKey{}, in), in.stop
}

func (in *interrupts) loop() {
	n := 0
	for {
		select {
		case <-in.done:
			return
		case sig := <-in.ch:
			n++
			if n == 1 {
				fmt.Fprintf(in.out, "\nmqcheck: %s: stopping the load, draining briefly, healing faults and writing results; press Ctrl-C again to stop at once\n", sig)
				in.cancel()
				continue
			}
			fmt.Fprintf(in.out, "\nmqcheck: %s again: stopping at once, writing what was measured\n", sig)
			close(in.abort)
			signal.Stop(in.ch)
			return
		}
	}
}

func (in *interrupts) stop() {
	in.once.Do(func() {
		signal.Stop(in.ch)
		close(in.done)
		in.cancel()
	})
}

// abortOf returns the channel a second signal closes; nil (never closed)
// when the command runs without signal handling, as in tests.
func abortOf(ctx context.Context) <-chan struct{} {
	if in, ok := ctx.Value(interruptsKey{}).(*interrupts); ok {
		return in.abort
	}
	return nil
}

// noticesOf returns where the interrupt notices go, to be pointed above a
// live status while one is drawn; nil without signal handling.
func noticesOf(ctx context.Context) *switchWriter {
	if in, ok := ctx.Value(interruptsKey{}).(*interrupts); ok {
		return in.out
	}
	return nil
}
