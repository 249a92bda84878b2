package initramfs

// Paths inside the image (without the leading "/"), the contract between
// the builder and capture-init.
const (
	// InitPath is capture-init, the first program the kernel runs.
	InitPath = "init"
	// ConfigPath holds the effective kdump.conf in kdumpconf's canonical
	// form, with everything resolved at build time: the target's device,
	// file system and path, the network addresses, the in-image paths of
	// the SSH key and known_hosts.
	ConfigPath = "etc/kdump.conf"
	// ModulesPath lists the kernel modules to load, one absolute path in
	// the image per line, in dependency order (each module after every
	// module it needs). The modules are stored uncompressed, so a plain
	// finit_module(fd, "", 0) loads them; EEXIST means already loaded.
	ModulesPath = "etc/kdumpkit/modules"
	// KnownHostsPath is the known_hosts file for ssh targets; capture-init
	// must check the server's host key against it.
	KnownHostsPath = "etc/kdumpkit/known_hosts"
	// SSHKeyPath is where the SSH private key is stored (mode 0600).
	SSHKeyPath = "etc/kdumpkit/id_ssh"
	// ManifestPath lists every input of the image with its SHA-256 and the
	// reason it is there, for people debugging a capture.
	ManifestPath = "etc/kdumpkit/manifest"
	// ModulesDirPrefix is where modules go: lib/modules/<release>/<path
	// from modules.dep without the compression suffix>.
	ModulesDirPrefix = "lib/modules"
	// FirmwareDir is the kernel's default firmware search path.
	FirmwareDir = "lib/firmware"
)

// Directories every image has, for capture-init's mounts and temporary
// files.
var baseDirs = []string{"dev", "etc", "etc/kdumpkit", "mnt", "proc", "run", "sys", "tmp", "var", "var/crash"}
