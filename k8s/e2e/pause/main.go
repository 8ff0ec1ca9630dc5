// Command pause is the sandbox ("pause") container of the Kubernetes
// suite's pods. containerd starts one per pod to hold its namespaces; it
// must do nothing until it is told to stop. The usual image cannot be
// pulled where the suite runs, so this one is built from source and
// imported into each node's containerd (see k8s/README.md).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
}
