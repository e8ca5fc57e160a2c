// Build recipe: the small programs of the test environment's real node that no module
// provides: pause (the pod sandbox's process, and PID 1 of the node's namespaces).
module example.invalid/tikv-operator-testenv/node

go 1.26.0
