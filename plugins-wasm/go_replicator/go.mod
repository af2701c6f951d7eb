module eventcontroller/plugins/go_replicator

go 1.27

require eventcontroller/guest v0.0.0

replace eventcontroller/guest => ../../guest-sdk/go
