// Package albdir reads AWS Application Load Balancer access logs from a
// directory tree, as `aws s3 sync` or a mounted bucket leaves them.
//
// ALB writes one object per load balancer node every five minutes, named
//
//	AWSLogs/<account>/elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/
//	  <account>_elasticloadbalancing_<region>_app.<lb>.<id>_<yyyymmddThhmmZ>_<ip>_<random>.log.gz
//
// A [Reader] accepts every file named *.log or *.log.gz anywhere under
// [Config.Dir], whatever the layout. Every [Config.ScanInterval] it walks
// the tree and reads each file it has not read yet, in order of the
// file's slash-separated path relative to Dir (for ALB's layout: by day,
// then by load balancer and time). *.log.gz files are gunzipped,
// concatenated gzip members included. Each line is read as a [Line] with
// the file's path and the line's 1-based number, parsed as an ALB access
// log line (correlate/alb) and handed to a consumer.Consumer, record or
// parse error, with "path:number" as its Where. Lines are delivered from
// one goroutine. A file's last line needs no newline.
//
// A file is left for a later scan while it may still be written: while
// its modification time is less than [Config.SettleTime] old (or in the
// future, until a second scan sees it unchanged), and when its size or
// modification time changed since the previous scan that left it.
// Symbolic links to files are followed, symbolic links to
// directories are not.
//
// Each file is read once. After a file is read it is recorded as done,
// with its size and modification time, in the state file
// albdir-state.json in [Config.StateDir], so that a new Reader with the
// same StateDir reads no file twice. The state is written atomically
// (temporary file, then rename) after each scan that changed it, during
// a long scan at most every second, and at Shutdown; a Reader stopped
// within a file records how many lines it delivered and the next one
// continues after them. Delivery is at least once: after a crash, the
// files read since the last write are read again. With an empty
// StateDir the state is kept in memory only and a new Reader reads every
// file again.
//
// The state forgets files that no longer exist, so it stays as large as
// the directory. Two exceptions keep entries: a scan that could not read
// a subdirectory keeps the entries below it, and a scan that finds no
// log file at all keeps every entry, since an empty tree more likely is
// an unmounted bucket than deleted logs.
//
// No input stops a Reader: a corrupt or truncated gzip file delivers the
// lines before the damage (an unterminated last fragment is dropped), is
// reported through [Config.OnError] and is still recorded as done, so it
// is never retried. A line longer than [Config.MaxLineBytes] is
// delivered cut and reported with an error wrapping [ErrLineTooLong]. A
// file that changes after it was read is reported once and not read
// again: ALB's objects never change.
package albdir
