// Command perouterctl checks perouter manifests offline and shows what a
// node would get from them, through the same code the controller runs.
package main

import (
	"os"

	"github.com/perouter/perouter/cmd/perouterctl/app"
)

func main() {
	os.Exit(app.Run(os.Args[1:], os.Stdout, os.Stderr))
}
