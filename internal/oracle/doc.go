// Package oracle runs independent readers of dump files (libkdumpfile
// through its Python binding, the C makedumpfile) for tests that compare
// kdumpkit's reads with theirs. It is test support, not product code.
package oracle
