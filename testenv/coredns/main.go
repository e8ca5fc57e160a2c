// CoreDNS with the plugins the test environment's Corefile uses. Upstream's main
// (github.com/coredns/coredns/coredns.go) is the same two lines plus a blank import of
// core/plugin, which links every plugin; importing a few instead is CoreDNS's documented
// way of building with a custom plugin set (plugin.cfg). dnsserver.Directives still
// orders them.
package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"

	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
