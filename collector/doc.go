// Package collector turns a makedumpfile command line into typed options:
// the argument parser of makedumpfile 1.7.x (getopt_long rules, its option
// set, its parameter checks and their "Commandline parameter is invalid"
// answer), shared by cmd/makedumpfile and by the capture path, which runs
// the kdump.conf core_collector line (for example
// `makedumpfile -l --message-level 7 -d 31`) in-process.
//
// It only parses and checks; it opens no file and runs nothing. What the
// options do is the job of the dump engine and of the commands that wire
// it (cmd/makedumpfile).
package collector
