// Command pause is the pod sandbox ("pause") image of the local cluster: it
// holds the pod's namespaces open, reaps the zombies of processes that
// share its PID namespace and exits 0 on SIGTERM or SIGINT. No registry can
// be reached here, so the cluster builds its own instead of pulling
// registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
