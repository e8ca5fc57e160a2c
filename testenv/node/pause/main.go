// pause: the pod sandbox process of the test environment's real node, and (with
// -until-stdin-closes) PID 1 of the node's own PID, mount and network namespaces.
//
// Kubernetes' pause (build/pause/linux/pause.c) is C, not a Go package, so it cannot come
// from the module proxy; this does what it does: sleep, exit 0 on SIGINT or SIGTERM, reap
// every child that is reparented to it. As PID 1 of a namespace it must install handlers,
// since the kernel drops unhandled signals sent to a namespace's init.
//
// -until-stdin-closes also exits when stdin reaches EOF: the test harness holds the write
// end of a pipe, so when the harness dies for any reason (even SIGKILL) the node's init
// exits and the kernel kills every process left in the node's PID namespace.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	untilStdinCloses := flag.Bool("until-stdin-closes", false, "also exit when stdin reaches EOF")
	flag.Parse()

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	done := make(chan string, 1)
	if *untilStdinCloses {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			done <- "stdin closed"
		}()
	}
	for {
		select {
		case why := <-done:
			fmt.Fprintf(os.Stderr, "pause: %s, exiting\n", why)
			os.Exit(0)
		case s := <-sigs:
			if s == syscall.SIGCHLD {
				reap()
				continue
			}
			fmt.Fprintf(os.Stderr, "pause: %v, exiting\n", s)
			os.Exit(0)
		}
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
