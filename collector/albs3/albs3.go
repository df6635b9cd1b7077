package albs3

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hopscope/hopscope/collector/consumer"
	"github.com/hopscope/hopscope/collector/internal/logread"
	"github.com/hopscope/hopscope/collector/internal/objstate"
	"github.com/hopscope/hopscope/collector/logformat"
	"github.com/hopscope/hopscope/correlate/alb"
)

// S3API is the part of *s3.Client the Reader uses.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// SQSAPI is the part of *sqs.Client the Reader uses.
type SQSAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
}

// relistEvery is how often a Reader driven by SQS lists the prefix again
// (moving the cursor, pruning the state, catching a lost notification).
const relistEvery = time.Hour

// sqsWait is the SQS long-poll time (the most SQS allows).
const sqsWait = 20

// Stats are a Reader's counters since Start.
type Stats struct {
	// Listings counts completed listings of the prefix.
	Listings uint64
	// Objects counts objects read to their end, Failed those of them
	// that were damaged.
	Objects, Failed uint64
	// Messages counts SQS messages deleted (test events included).
	Messages uint64
	// Lines counts lines delivered, Bytes bytes read after
	// decompression.
	Lines, Bytes uint64
	// Errors counts errors reported to OnError.
	Errors uint64
	// Pauses counts the pauses for Config.Pause.
	Pauses uint64
}

// Reader reads each ALB log object under an S3 prefix once. Create it
// with New.
type Reader struct {
	cfg            Config
	bucket, prefix string
	emit           func(where string, n int64, text []byte)
	statePath      string
	loop           *logread.Loop
	lr             *logread.Lines
	ctx            context.Context
	cancel         context.CancelFunc
	now            func() time.Time

	// Owned by the loop's goroutine after Start.
	s3       S3API
	sqs      SQSAPI
	state    stateFile
	dirty    bool
	nextList time.Time

	listings, objects, failed, messages, lines, bytes, errs, pauses atomic.Uint64
}

// New returns a Reader that parses every line of every log object under
// cfg.URL as an ALB access log line (correlate/alb) and hands each
// record, or the reason a line is not one, to next: from one goroutine,
// object after object. Empty lines are skipped.
func New(cfg Config, next consumer.Consumer) (*Reader, error) {
	if next == nil {
		return nil, errors.New("albs3: consumer must not be nil")
	}
	return newLines(cfg, func(where string, n int64, text []byte) {
		if len(text) == 0 {
			return
		}
		r, err := alb.Parse(string(text))
		in := consumer.Input{Source: logformat.SourceALB, Where: where + ":" + strconv.FormatInt(n, 10), Err: err}
		if err == nil {
			in.Record = &r
		}
		_ = next.Consume(context.Background(), in)
	})
}

// newLines returns New's Reader before parsing: emit gets each line with
// its object's s3:// URL and number.
func newLines(cfg Config, emit func(where string, n int64, text []byte)) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	bucket, prefix, _ := ParseURL(cfg.URL) // checked by Validate
	ctx, cancel := context.WithCancel(context.Background())
	r := &Reader{cfg: cfg, bucket: bucket, prefix: prefix, emit: emit, loop: logread.NewLoop(),
		ctx: ctx, cancel: cancel, now: time.Now, s3: cfg.S3, sqs: cfg.SQS}
	r.lr = logread.NewLines(r.loop, 64<<10, cfg.MaxLineBytes, cfg.Pause, cfg.OnPause,
		logread.LineCounters{Lines: &r.lines, Bytes: &r.bytes, Pauses: &r.pauses})
	if cfg.StateDir != "" {
		r.statePath = filepath.Join(cfg.StateDir, StateFileName)
	}
	return r, nil
}

// Start loads the state file, checks that it can be written, makes the S3
// (and SQS) clients from the default credential chain, and reads in the
// background until Shutdown. An unreadable or invalid state file fails
// Start with an error naming it. ctx bounds Start only.
func (r *Reader) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("albs3: start: %w", err)
	}
	switch err := r.loop.Claim(func() error { return r.prepare(ctx) }); {
	case errors.Is(err, logread.ErrStarted):
		return fmt.Errorf("albs3: start: %w", err)
	case err != nil:
		return err
	}
	interval := r.cfg.PollInterval
	if r.cfg.QueueURL != "" {
		// A receive long-polls; this only spaces out a server that
		// answers an empty receive at once.
		interval = 100 * time.Millisecond
	}
	r.loop.Go(interval, r.poll, func() { r.save() })
	return nil
}

func (r *Reader) prepare(ctx context.Context) error {
	sf := stateFile{Version: stateVersion, Bucket: r.bucket, Prefix: r.prefix, Objects: map[string]entry{}}
	if r.statePath != "" {
		if err := mkdir(r.cfg.StateDir); err != nil {
			return err
		}
		var err error
		if sf, err = loadState(r.statePath, r.bucket, r.prefix); err != nil {
			return err
		}
		// Written back now: a state file that cannot be written fails
		// here, not after the first object was delivered.
		if err := objstate.Save("albs3", r.statePath, sf); err != nil {
			return err
		}
	}
	if r.s3 == nil || (r.cfg.QueueURL != "" && r.sqs == nil) {
		var opts []func(*awsconfig.LoadOptions) error
		if r.cfg.Region != "" {
			opts = append(opts, awsconfig.WithRegion(r.cfg.Region))
		}
		acfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return fmt.Errorf("albs3: AWS configuration: %w", err)
		}
		if acfg.Region == "" {
			return errors.New("albs3: --alb-s3-region: no region set and none in the AWS configuration (AWS_REGION, ~/.aws/config)")
		}
		if r.s3 == nil {
			r.s3 = s3.NewFromConfig(acfg, func(o *s3.Options) {
				if r.cfg.Endpoint != "" {
					o.BaseEndpoint = aws.String(r.cfg.Endpoint)
					// S3-compatible servers seldom return the checksums
					// the SDK would otherwise ask for and warn about.
					o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
					o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
				}
				o.UsePathStyle = r.cfg.PathStyle
			})
		}
		if r.cfg.QueueURL != "" && r.sqs == nil {
			r.sqs = sqs.NewFromConfig(acfg)
		}
	}
	r.state = sf
	return nil
}

// Shutdown stops reading, finishing the line being delivered, and writes
// the state file. When ctx ends before the background goroutine returns,
// ctx's error is returned and the goroutine still finishes on its own.
func (r *Reader) Shutdown(ctx context.Context) error {
	r.loop.Stop()
	r.cancel() // ends a request or long poll under way
	if err := r.loop.Shutdown(ctx); err != nil {
		return fmt.Errorf("albs3: shutdown: %w", err)
	}
	return nil
}

// Stats returns a snapshot of the counters.
func (r *Reader) Stats() Stats {
	return Stats{Listings: r.listings.Load(), Objects: r.objects.Load(), Failed: r.failed.Load(),
		Messages: r.messages.Load(), Lines: r.lines.Load(), Bytes: r.bytes.Load(),
		Errors: r.errs.Load(), Pauses: r.pauses.Load()}
}

// poll lists the prefix, or, driven by SQS, receives notifications and
// lists only at the first poll and every relistEvery.
func (r *Reader) poll() {
	if r.cfg.QueueURL == "" || !r.now().Before(r.nextList) {
		next := relistEvery
		if !r.list() {
			next = r.cfg.PollInterval // retried, not every receive
		}
		r.nextList = r.now().Add(next)
		return
	}
	r.receive()
}

// list reads the log objects after the cursor that were not read, and
// moves the cursor past the objects of closed days that were all read.
// It reports whether the listing completed.
func (r *Reader) list() bool {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(r.bucket), Prefix: aws.String(r.prefix)}
	if r.state.Cursor != "" {
		in.StartAfter = aws.String(r.state.Cursor)
	}
	advancing, cursor := true, r.state.Cursor
	for {
		out, err := r.s3.ListObjectsV2(r.ctx, in)
		if err != nil {
			if !r.loop.Stopping() {
				r.report(r.url(r.prefix), fmt.Errorf("albs3: list s3://%s/%s: %w", r.bucket, r.prefix, err))
			}
			return false
		}
		for _, o := range out.Contents {
			if r.loop.Stopping() {
				return false
			}
			key := aws.ToString(o.Key)
			ok := !isLogName(key)
			if !ok {
				e, known := r.state.Objects[key]
				if known && !e.Partial {
					ok = true
				} else {
					ok = r.readObject(key, aws.ToInt64(o.Size), aws.ToString(o.ETag), e.Lines)
				}
			}
			if advancing && ok && (!isLogName(key) || r.closed(key)) {
				cursor = key
			} else {
				advancing = false
			}
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = out.NextContinuationToken
	}
	if cursor != r.state.Cursor {
		r.state.Cursor = cursor
		for key := range r.state.Objects {
			if key <= cursor {
				delete(r.state.Objects, key)
			}
		}
		r.dirty = true
		r.save()
	}
	r.listings.Add(1)
	return true
}

// closed reports whether key's yyyy/mm/dd directory ended more than
// Lookback ago; a key without one is never closed.
func (r *Reader) closed(key string) bool {
	day, ok := keyDay(key)
	return ok && r.now().Sub(day.Add(24*time.Hour)) > r.cfg.Lookback
}

// keyDay returns the day of the last yyyy/mm/dd directory in key.
func keyDay(key string) (time.Time, bool) {
	parts := strings.Split(key, "/")
	for i := len(parts) - 4; i >= 0; i-- {
		if len(parts[i]) != 4 || len(parts[i+1]) != 2 || len(parts[i+2]) != 2 {
			continue
		}
		if t, err := time.Parse("2006/01/02", parts[i]+"/"+parts[i+1]+"/"+parts[i+2]); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func isLogName(key string) bool {
	return strings.HasSuffix(key, ".log") || strings.HasSuffix(key, ".log.gz")
}

func (r *Reader) url(key string) string { return "s3://" + r.bucket + "/" + key }

// readObject reads an object after its first skip lines and records it.
// It reports whether the object is done: false when it could not be
// fetched (retried later) or the Reader stopped within it.
func (r *Reader) readObject(key string, size int64, etag string, skip int64) bool {
	where := r.url(key)
	out, err := r.s3.GetObject(r.ctx, &s3.GetObjectInput{Bucket: aws.String(r.bucket), Key: aws.String(key)})
	if err != nil {
		if !r.loop.Stopping() {
			r.report(where, fmt.Errorf("albs3: get %s: %w (retried)", where, err))
		}
		return false
	}
	defer out.Body.Close()
	if size == 0 {
		size = aws.ToInt64(out.ContentLength)
	}
	if etag == "" {
		etag = aws.ToString(out.ETag)
	}
	var n int64
	complete, failed := true, false
	src, closeSrc, err := logread.Decompress(key, out.Body)
	if err != nil {
		r.report(where, fmt.Errorf("albs3: %s: %w", where, err))
		failed = true
	} else {
		var rerr error
		n, complete, rerr = r.lr.Read(where, src, skip, func(n int64, text []byte, tooLong error) {
			if tooLong != nil {
				r.report(where, fmt.Errorf("albs3: %w", tooLong))
			}
			r.emit(where, n, text)
		})
		closeSrc()
		if rerr != nil && r.loop.Stopping() {
			complete = false // the body's read ended by Shutdown
		} else if rerr != nil {
			r.report(where, fmt.Errorf("albs3: %s: after line %d: %w", where, n, rerr))
			failed = true
		}
	}
	if !complete {
		r.state.Objects[key] = entry{Size: size, ETag: etag, Partial: true, Lines: max(n, skip)}
		r.dirty = true
		return false
	}
	r.state.Objects[key] = entry{Size: size, ETag: etag}
	r.dirty = true
	r.objects.Add(1)
	if failed {
		r.failed.Add(1)
	}
	if r.cfg.OnObject != nil {
		r.cfg.OnObject(where, failed)
	}
	r.save()
	return true
}

// receive takes one batch of SQS messages and reads the objects they
// name; a message is deleted once they are read.
func (r *Reader) receive() {
	q := aws.String(r.cfg.QueueURL)
	out, err := r.sqs.ReceiveMessage(r.ctx, &sqs.ReceiveMessageInput{QueueUrl: q, MaxNumberOfMessages: 10, WaitTimeSeconds: sqsWait})
	if err != nil {
		if r.loop.Stopping() {
			return
		}
		r.report(r.cfg.QueueURL, fmt.Errorf("albs3: receive from %s: %w", r.cfg.QueueURL, err))
		t := time.NewTimer(r.cfg.PollInterval)
		defer t.Stop()
		select {
		case <-r.ctx.Done():
		case <-t.C:
		}
		return
	}
	for _, m := range out.Messages {
		if r.loop.Stopping() {
			return
		}
		n, err := DecodeNotification([]byte(aws.ToString(m.Body)))
		if err != nil {
			r.report(r.cfg.QueueURL, fmt.Errorf("albs3: message %s: %w (left in the queue)", aws.ToString(m.MessageId), err))
			continue
		}
		done := true
		for _, o := range n.Objects {
			if o.Bucket != r.bucket || !strings.HasPrefix(o.Key, r.prefix) || !isLogName(o.Key) || o.Key <= r.state.Cursor {
				continue
			}
			if e, known := r.state.Objects[o.Key]; known && !e.Partial {
				continue
			} else if !r.readObject(o.Key, o.Size, o.ETag, e.Lines) {
				done = false
				break
			}
		}
		if !done {
			continue // the message comes back after its visibility timeout
		}
		if _, err := r.sqs.DeleteMessage(r.ctx, &sqs.DeleteMessageInput{QueueUrl: q, ReceiptHandle: m.ReceiptHandle}); err != nil {
			if !r.loop.Stopping() {
				r.report(r.cfg.QueueURL, fmt.Errorf("albs3: delete message %s: %w", aws.ToString(m.MessageId), err))
			}
			continue
		}
		r.messages.Add(1)
	}
}

// save writes the state file when it changed.
func (r *Reader) save() {
	if !r.dirty || r.statePath == "" {
		r.dirty = false
		return
	}
	if err := objstate.Save("albs3", r.statePath, r.state); err != nil {
		r.report(r.statePath, err)
		return
	}
	r.dirty = false
}

func (r *Reader) report(where string, err error) {
	r.errs.Add(1)
	if r.cfg.OnError != nil {
		r.cfg.OnError(where, err)
	}
}
