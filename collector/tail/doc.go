// Package tail follows one growing log file the way `tail -F` does, for
// access logs that ingress-nginx and HAProxy write to a file.
//
// A [Tailer] polls the path every [Config.PollInterval] (no inotify, so it
// works on every file system, overlay and network mounts included) and
// reads every complete line as a [Line]: the path, the 1-based line number
// in the file and the text without its newline (in a reused buffer). [New]
// parses each line as [Config.Format] (package logformat) and hands the
// record, or why the line is not one, to a consumer.Consumer, with
// "path:number" as its Where. Lines are delivered from one goroutine, in
// file order. [OffsetFile] keeps several Tailers' offsets in one file
// (the collector's --state-dir).
//
// Where reading starts:
//
//   - The file exists at Start: at its end (after its last newline, so a
//     line being written at that moment is delivered whole), or at its
//     beginning with [Config.StartAtBeginning], or at the saved offset when
//     [Config.Offsets] holds one for the same inode.
//   - The file appears later, or replaces the followed file: at its
//     beginning, since all of it is new.
//
// Line numbers are exact: when reading starts inside a file, the lines
// before the start are counted once, in the background, which reads that
// part of the file.
//
// Rotation:
//
//   - Rename (logrotate "create", or the writer renames and reopens): when
//     the path names another file or none, the old file is kept open and
//     read while it grows, since the writer keeps appending to it until it
//     reopens its log. Once the old file has not grown for
//     [Config.RotateWait], it is drained to its end, a partial last line is
//     delivered, the file is closed and the file now at the path is read
//     from its beginning. Lines the writer appends to the old file after
//     that are not read.
//   - Copytruncate: when the file becomes shorter than the read offset, a
//     held partial line is delivered and reading restarts at offset 0 with
//     line number 1. Bytes written between the copy and the truncation
//     are lost, as with every reader of copytruncate logs; a truncation
//     followed by more writes than were read before it within one poll
//     cannot be seen.
//   - Deletion: treated as rename; the deleted file is released after
//     RotateWait without growth (so its disk space is freed) and the path
//     is watched for a new file.
//
// A line longer than [Config.MaxLineBytes] is delivered truncated to that
// length and reported through [Config.OnError] with an error wrapping
// [ErrLineTooLong]. No input stops the Tailer: errors (unreadable file,
// failed offset save) are reported through OnError, once until the
// condition changes, and the Tailer keeps polling.
//
// With [Config.Offsets] the offset after the last delivered line is saved
// at most every [Config.SaveInterval] and at Shutdown, so that a restarted
// Tailer resumes there. Delivery is at least once: lines delivered after
// the last save before a crash are delivered again.
package tail
