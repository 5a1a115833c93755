// A build-time check of the schemas tfgen generates for the bridged plugins (see ../bridged.sh). Standard
// library only.
module k8scp.local/toolchain/checkschema

go 1.24
