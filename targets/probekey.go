package targets

import "crypto/ed25519"

// probeKey is an ed25519 public key of all zero bytes: no real host has
// it, so offering it to the known_hosts check always fails, and the
// failure lists the keys known for the host.
var probeKey = ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))
